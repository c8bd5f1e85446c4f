"""The data explorer's pages in a real headless browser (Debian's chromium driven by Playwright),
against a real ``flokit serve``: each page must show what the /v1 API says for the workspace."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from server import Server, cli

PROJECTION_WAIT_S = 20.0
UI_WAIT_MS = 15_000
SPECIAL_USER = "usr 4/ & <b>é</b>?#x"  # needs URL-encoding (even its "/") and escaping everywhere
ODD_VISITOR = "anon <i>9</i>&x=1"  # an unlinked anonymous visitor with a markup-like id
BUSY_EVENTS = 120  # usr_3's events: more than one page of /v1/events and of the timeline


@dataclass
class Site:
    """A running server with one seeded workspace, its keys, and the log position reached."""

    server: Server
    rw: str
    ro: str
    position: int = 0

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, path: str, key: str | None = None, **params: Any) -> Any:
        """The API's JSON answer (the read-only key unless told), which must be a success."""
        response = httpx.get(
            self.url + path, params=params, headers={"Authorization": f"Bearer {key or self.ro}"}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def all_pages(self, path: str, items: str, **params: Any) -> list[Any]:
        """Every item of a paged list, following ``next_cursor``."""
        found: list[Any] = []
        cursor = None
        while True:
            page = self.api(path, **params, **({"cursor": cursor} if cursor else {}))
            found.extend(page[items])
            cursor = page["next_cursor"]
            if not cursor:
                return found

    def send(self, events: list[dict[str, Any]]) -> list[str]:
        """Store events through the batch endpoint; every one must be new and valid."""
        response = httpx.post(
            f"{self.url}/v1/batch/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {self.rw}"},
            timeout=30,
        )
        body = response.json()
        assert response.status_code == 200 and body["rejected"] == 0, body
        assert body["duplicates"] == 0, body
        self.position += body["accepted"]  # a fresh database: the log's positions are 1, 2, …
        ids: list[str] = body["event_ids"]
        return ids

    def wait_projected(self) -> int:
        """Wait until the read API reflects every event sent (``as_of`` reaches the newest
        event's log position); a bounded wait, then a failure saying how far it got."""
        deadline = time.monotonic() + PROJECTION_WAIT_S
        as_of = -1
        while time.monotonic() < deadline:
            as_of = self.api("/v1/identity")["as_of"]
            if as_of >= self.position:
                return int(as_of)
            time.sleep(0.1)
        raise AssertionError(f"projection at {as_of}, not at {self.position} after 20 s")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seed_events(start: datetime) -> list[dict[str, Any]]:
    """Two attributed installs that become users who pay (one also refunds), a second user
    claiming the first one's anonymous id (a conflict), a user without attribution who is
    busy, a user with an awkward id, and an anonymous visitor who never signs up."""

    def at(minutes: float) -> str:
        return iso(start + timedelta(minutes=minutes))

    def revenue(plan: str, amount: float, currency: str, tx: str) -> dict[str, Any]:
        return {"plan_id": plan, "revenue": amount, "currency": currency, "transaction_id": tx}

    def install(campaign: str, channel: str, country: str) -> dict[str, Any]:
        return {"campaign_id": campaign, "channel": channel, "country": country}

    return [
        {
            "event": "install_attributed",
            "anonymous_id": "anon_a1",
            "timestamp": at(0),
            "properties": install("c_spring", "meta", "US"),
        },
        {
            "event": "trial_started",
            "user_id": "usr_1",
            "anonymous_id": "anon_a1",
            "timestamp": at(5),
            "properties": {"plan_id": "p_year"},
        },
        {
            "event": "subscription_started",
            "user_id": "usr_1",
            "anonymous_id": "anon_a1",
            "timestamp": at(10),
            "properties": revenue("p_year", 49.99, "USD", "tx_1"),
        },
        {
            "event": "renewal_completed",
            "user_id": "usr_1",
            "timestamp": at(20),
            "properties": revenue("p_year", 49.99, "USD", "tx_2"),
        },
        {
            "event": "refund_issued",
            "user_id": "usr_1",
            "timestamp": at(25),
            "properties": {"revenue": 49.99, "currency": "USD", "transaction_id": "tx_2"},
        },
        {
            "event": "install_attributed",
            "anonymous_id": "anon_b1",
            "timestamp": at(30),
            "properties": install("c_search", "google", "DE"),
        },
        {
            "event": "user_created",
            "user_id": "usr_2",
            "anonymous_id": "anon_b1",
            "timestamp": at(31),
        },
        {
            "event": "subscription_started",
            "user_id": "usr_2",
            "anonymous_id": "anon_b1",
            "timestamp": at(32),
            "properties": revenue("p_month", 9.5, "EUR", "tx_3"),
        },
        # usr_2 also claims anon_a1, which is usr_1's: a conflict.
        {
            "event": "user_created",
            "user_id": "usr_2",
            "anonymous_id": "anon_a1",
            "timestamp": at(40),
        },
        {
            "event": "install_attributed",
            "anonymous_id": ODD_VISITOR,
            "timestamp": at(45),
            "properties": install("c_spring", "meta", "FR"),
        },
        {"event": "user_created", "user_id": "usr_3", "timestamp": at(50)},
        *[
            {"event": "screen_viewed", "user_id": "usr_3", "timestamp": at(51 + n / 10)}
            for n in range(BUSY_EVENTS - 1)
        ],
        {
            "event": "subscription_started",
            "user_id": SPECIAL_USER,
            "timestamp": at(70),
            "properties": revenue("p_month", 5, "USD", "tx_4"),
        },
    ]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = tmp_path_factory.mktemp("pages") / "pages.db"
    created = cli(db, "workspaces", "create", "w")
    ro = cli(db, "keys", "create", "--workspace", created["workspace_id"], "--read-only")
    server = Server(db)
    try:
        seeded = Site(server, rw=created["api_key"], ro=ro["api_key"])
        assert ro["api_key"].startswith("fk_ro_")
        seeded.send(seed_events(datetime.now(UTC) - timedelta(hours=3)))
        seeded.wait_projected()
        yield seeded
    finally:
        server.stop()


@pytest.fixture
def blank(fresh_page: Page, site: Site) -> Page:
    """A page with no key saved (tests/chromium.py), once every event sent is projected."""
    site.wait_projected()
    return fresh_page


@pytest.fixture
def page(blank: Page, site: Site) -> Page:
    """A page whose browser has the read-only key saved (pasted once in the key box)."""
    blank.goto(f"{site.url}/app/events")
    blank.fill("#key", site.ro)
    blank.click("#save-key")
    expect(blank.locator("#key-state")).to_have_text("Key saved in this browser.")
    return blank


def percent(share: float | None) -> str:
    """What the page shows for a share: JavaScript's toFixed(1) of the percentage."""
    if share is None:
        return "—"
    exact = Decimal(share * 100)  # the same double the page multiplies out
    return f"{exact.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} %"


def attrs(page: Page, selector: str, name: str) -> list[str]:
    values: list[str] = page.locator(selector).evaluate_all(
        "(nodes, name) => nodes.map((n) => n.getAttribute(name))", name
    )
    return values


def row_ids(page: Page, body: str) -> list[str]:
    return attrs(page, f"#{body} tr", "data-event-id")


def test_no_key_says_how_to_start(blank: Page, site: Site) -> None:
    for path in ("/app/identity", "/app/events", "/app/users", "/app/users/usr_1"):
        blank.goto(site.url + path)
        expect(blank.locator("#key-state")).to_have_text("No key saved.")
        expect(blank.locator("#message")).to_contain_text("No key saved")
        expect(blank.locator("#message")).to_contain_text("read-only key is enough")


def test_a_refused_key_shows_the_api_message(blank: Page, site: Site) -> None:
    wrong = "fk_ro_" + "x" * 32
    answer = httpx.get(f"{site.url}/v1/identity", headers={"Authorization": f"Bearer {wrong}"})
    assert answer.status_code == 401
    blank.goto(f"{site.url}/app/identity")
    blank.fill("#key", wrong)
    blank.click("#save-key")
    expect(blank.locator("#message")).to_contain_text("The saved key was refused")
    expect(blank.locator("#message")).to_contain_text(answer.json()["message"])
    blank.click("#forget-key")  # and forgetting it is back to the start
    expect(blank.locator("#key-state")).to_have_text("No key saved.")
    expect(blank.locator("#message")).to_contain_text("No key saved")


def test_navigation_and_static_files(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/app/users")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Users")
    page.click("nav >> text=Identity")
    expect(page).to_have_url(f"{site.url}/app/identity")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Identity")
    for name in ("app.css", "app.js", "events.js"):
        assert httpx.get(f"{site.url}/app/static/{name}").status_code == 200
    for name in ("layout.html", "..%2Fapp.py", "%2E%2E%2F__init__.py", "nope.js"):
        assert httpx.get(f"{site.url}/app/static/{name}").status_code == 404


def test_identity_page_shows_the_api_numbers(page: Page, site: Site) -> None:
    identity = site.api("/v1/identity")
    page.goto(f"{site.url}/app/identity")
    expect(page.locator("#users-count")).to_have_text(str(identity["users"]))
    expect(page.locator("#linked-count")).to_have_text(str(identity["anonymous_ids_linked"]))
    expect(page.locator("#unlinked-count")).to_have_text(str(identity["anonymous_ids_unlinked"]))
    rate = identity["install_join_rate_7d"]
    expect(page.locator("#join-rate")).to_have_text(percent(rate))
    if rate is not None:
        health = "healthy" if rate > 0.9 else "unhealthy"
        expect(page.locator("#join-health")).to_have_text(health)
        assert float(page.locator("#join-meter").get_attribute("value") or "nan") == rate
    share = identity["unattributed_revenue_share"]
    expect(page.locator("#unattributed-share")).to_have_text(percent(share))
    conflicts = identity["conflicts"]
    expect(page.locator("#conflicts-count")).to_have_text(str(conflicts["count"]))
    assert conflicts["count"] >= 1, "the seed holds a conflict"
    rows = page.locator("#conflicts tr")
    expect(rows).to_have_count(len(conflicts["newest"]))
    for row, conflict in zip(rows.all(), conflicts["newest"], strict=True):
        cells = row.locator("td")
        expect(cells.nth(0)).to_have_text(conflict["anonymous_id"])
        expect(cells.nth(1)).to_have_text(conflict["linked_user_id"])
        expect(cells.nth(2)).to_have_text(conflict["other_user_id"])
        expect(cells.nth(3)).to_have_text(conflict["event_id"])
    unlinked = site.all_pages("/v1/users", "users", kind="anonymous")
    expect(page.locator("#unlinked tr")).to_have_count(len(unlinked))
    assert attrs(page, "#unlinked tr", "data-id") == [p["id"] for p in unlinked]
    assert ODD_VISITOR in attrs(page, "#unlinked tr", "data-id")
    expect(page.locator("#unlinked i")).to_have_count(0)  # the id is text, not markup
    expect(page.locator("#as-of")).to_contain_text(
        f"projection at log position {identity['as_of']}"
    )


def test_users_page_lists_people_as_the_api_does(page: Page, site: Site) -> None:
    people = site.all_pages("/v1/users", "users")
    page.goto(f"{site.url}/app/users")
    rows = page.locator("#users tr")
    expect(rows).to_have_count(len(people))
    assert attrs(page, "#users tr", "data-id") == [p["id"] for p in people]
    assert attrs(page, "#users tr", "data-kind") == [p["kind"] for p in people]
    assert page.locator("#users td.count").all_inner_texts() == [
        str(p["event_count"]) for p in people
    ]
    assert page.locator("#users td.status").all_inner_texts() == [p["status"] for p in people]
    as_of = site.api("/v1/users")["as_of"]
    expect(page.locator("#as-of")).to_contain_text(f"projection at log position {as_of}")
    expect(page.locator("#users b, #users i")).to_have_count(0)

    # Search by prefix: of a user id, and of an anonymous id (which finds its user too).
    for q in ("usr_", "anon_a"):
        page.fill("#q", q)
        page.press("#q", "Enter")
        expect(page).to_have_url(f"{site.url}/app/users?q={q}")
        found = site.all_pages("/v1/users", "users", q=q)
        expect(page.locator("#users tr")).to_have_count(len(found))
        assert attrs(page, "#users tr", "data-id") == [p["id"] for p in found]
    page.fill("#q", "")
    page.select_option("#kind", "anonymous")
    anonymous = site.all_pages("/v1/users", "users", kind="anonymous")
    expect(page.locator("#users tr")).to_have_count(len(anonymous))
    assert attrs(page, "#users tr", "data-id") == [p["id"] for p in anonymous]

    # An anonymous visitor leads to their events; an identified user to their profile.
    page.click(f'#users tr[data-id="{ODD_VISITOR}"] a')
    expect(page).to_have_url(
        f"{site.url}/app/events?anonymous_id={quote(ODD_VISITOR, safe='').replace('%20', '+')}"
    )
    events = site.all_pages("/v1/events", "events", anonymous_id=ODD_VISITOR)
    expect(page.locator("#events tr")).to_have_count(len(events))
    expect(page.locator("#f-anonymous_id")).to_have_value(ODD_VISITOR)
    page.goto(f"{site.url}/app/users?kind=user")
    expect(page.locator("#kind")).to_have_value("user")
    page.locator("#users tr", has_text="usr 4").locator("a").first.click()
    expect(page).to_have_url(f"{site.url}/app/users/{quote(SPECIAL_USER, safe='')}")
    expect(page.locator("#profile-user-id")).to_have_text(SPECIAL_USER)
    expect(page.locator("#profile b")).to_have_count(0)


def test_user_page_shows_profile_money_conflicts_and_timeline(page: Page, site: Site) -> None:
    user = site.api("/v1/users/usr_1")
    page.goto(f"{site.url}/app/users/usr_1")
    expect(page.locator("#profile-user-id")).to_have_text("usr_1")
    expect(page.locator("#profile-event-count")).to_have_text(str(user["event_count"]))
    expect(page.locator("#profile-anonymous-ids")).to_have_text(", ".join(user["anonymous_ids"]))
    expect(page.locator("#profile-first-seen time")).to_have_attribute(
        "datetime", user["first_seen"]
    )
    expect(page.locator("#profile-last-seen time")).to_have_attribute("datetime", user["last_seen"])
    assert user["attribution"] is not None
    expect(page.locator("#attribution-channel")).to_have_text(user["attribution"]["channel"])
    expect(page.locator("#attribution-campaign")).to_have_text(user["attribution"]["campaign_id"])
    expect(page.locator("#attribution-country")).to_have_text(user["attribution"]["country"])
    expect(page.locator("#attribution-none")).to_be_hidden()
    expect(page.locator("#subscription-status")).to_have_text(user["subscription"]["status"])
    expect(page.locator("#subscription-plan")).to_have_text(user["subscription"]["plan_id"])
    expect(page.locator("#subscription-renewals")).to_have_text(
        str(user["subscription"]["renewals"])
    )

    revenue = user["revenue"]
    assert revenue, "usr_1 paid"
    expect(page.locator("#revenue tr")).to_have_count(len(revenue))
    for currency, sums in revenue.items():
        row = page.locator(f'#revenue tr[data-currency="{currency}"]')
        for name in ("gross", "refunded", "net"):
            cell = row.locator(f"td.{name}")
            expect(cell).to_have_text(
                f"{Decimal(sums[name]).quantize(Decimal('0.01'), ROUND_HALF_UP)}"
            )
            assert float(cell.get_attribute("data-value") or "nan") == sums[name]

    conflicts = user["conflicts"]
    assert conflicts, "usr_2 claimed usr_1's anonymous id"
    expect(page.locator("#conflicts tr")).to_have_count(len(conflicts))
    for row, conflict in zip(page.locator("#conflicts tr").all(), conflicts, strict=True):
        expect(row).to_contain_text(conflict["anonymous_id"])
        expect(row).to_contain_text(conflict["other_user_id"])

    newest_first = site.all_pages("/v1/users/usr_1/events", "events")
    expect(page.locator("#timeline tr")).to_have_count(len(newest_first))
    assert row_ids(page, "timeline") == [e["event_id"] for e in newest_first]
    page.select_option("#order", "asc")
    oldest_first = site.all_pages("/v1/users/usr_1/events", "events", order="asc")
    expect(page.locator("#timeline tr").first).to_have_attribute(
        "data-event-id", oldest_first[0]["event_id"]
    )
    assert row_ids(page, "timeline") == [e["event_id"] for e in oldest_first]
    expect(page).to_have_url(f"{site.url}/app/users/usr_1?order=asc")
    page.locator("#timeline tr").nth(1).locator("td.event-name").click()
    shown = json.loads(page.locator("#event-json").inner_text())
    assert shown == oldest_first[1]
    expect(page.locator("#as-of")).to_contain_text("projection at log position")


def test_user_without_attribution_and_a_long_timeline(page: Page, site: Site) -> None:
    user = site.api("/v1/users/usr_3")
    assert user["attribution"] is None
    page.goto(f"{site.url}/app/users/usr_3")
    expect(page.locator("#attribution-none")).to_have_text("No install attribution")
    expect(page.locator("#attribution")).to_be_hidden()
    expect(page.locator("#subscription-status")).to_have_text(user["subscription"]["status"])
    expect(page.locator("#revenue tr")).to_have_count(len(user["revenue"]))
    expect(page.locator("#profile-event-count")).to_have_text(str(user["event_count"]))
    first = site.api("/v1/users/usr_3/events")
    assert first["next_cursor"], "usr_3 has more than one page of events"
    expect(page.locator("#timeline tr")).to_have_count(len(first["events"]))
    page.click("#timeline-more")
    everything = site.all_pages("/v1/users/usr_3/events", "events")
    expect(page.locator("#timeline tr")).to_have_count(len(everything))
    assert row_ids(page, "timeline") == [e["event_id"] for e in everything]
    expect(page.locator("#timeline-more")).to_be_hidden()


def test_unknown_user_says_so(page: Page, site: Site) -> None:
    answer = httpx.get(
        f"{site.url}/v1/users/nobody_here", headers={"Authorization": f"Bearer {site.ro}"}
    )
    assert answer.status_code == 404
    page.goto(f"{site.url}/app/users/nobody_here")
    expect(page.locator("#message")).to_have_text("No user nobody_here in this workspace.")
    expect(page.locator("#user-view")).to_be_hidden()


def test_events_page_lists_loads_more_and_shows_json(page: Page, site: Site) -> None:
    first = site.api("/v1/events")
    assert first["next_cursor"], "the seed is more than a page of events"
    page.goto(f"{site.url}/app/events")
    expect(page.locator("#events tr")).to_have_count(len(first["events"]))
    assert row_ids(page, "events") == [e["event_id"] for e in first["events"]]
    page.click("#load-more")
    everything = site.all_pages("/v1/events", "events")
    expect(page.locator("#events tr")).to_have_count(len(everything))
    assert row_ids(page, "events") == [e["event_id"] for e in everything]
    expect(page.locator("#load-more")).to_be_hidden()

    paid = next(e for e in everything if e["event"] == "subscription_started")
    page.click(f'#events tr[data-event-id="{paid["event_id"]}"] td.event-name')
    expect(page.locator("#event-panel")).to_be_visible()
    expect(page.locator("#event-panel-id")).to_have_text(paid["event_id"])
    assert json.loads(page.locator("#event-json").inner_text()) == paid
    assert "\n  " in page.locator("#event-json").inner_text()  # pretty-printed

    # Filters go in the address, and an address with filters is a working link.
    page.fill("#f-event", "subscription_started")
    page.click("#apply")
    expect(page).to_have_url(f"{site.url}/app/events?event=subscription_started")
    started = site.all_pages("/v1/events", "events", event="subscription_started")
    expect(page.locator("#events tr")).to_have_count(len(started))
    assert row_ids(page, "events") == [e["event_id"] for e in started]


def test_events_deep_link_with_filters(page: Page, site: Site) -> None:
    since = site.api("/v1/users/usr_1")["first_seen"]
    wanted = site.all_pages("/v1/events", "events", user_id="usr_1", since=since)
    page.goto(f"{site.url}/app/events?user_id=usr_1&since={quote(since)}")
    expect(page.locator("#f-user_id")).to_have_value("usr_1")
    expect(page.locator("#f-since")).to_have_value(since)
    expect(page.locator("#events tr")).to_have_count(len(wanted))
    assert row_ids(page, "events") == [e["event_id"] for e in wanted]
    page.goto(f"{site.url}/app/events?since=yesterday")  # the API's 400 reaches the person
    expect(page.locator("#message")).to_contain_text("since must be an ISO 8601")


def test_follow_mode_puts_new_events_on_top(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/app/events?user_id=usr_follow")
    expect(page.locator("#events-empty")).to_be_visible()
    page.check("#follow")
    first = site.send(
        [{"event": "user_created", "user_id": "usr_follow", "timestamp": iso(datetime.now(UTC))}]
    )
    expect(page.locator("#events tr").first).to_have_attribute(
        "data-event-id", first[0], timeout=UI_WAIT_MS
    )
    second = site.send(
        [
            {
                "event": "onboarding_started",
                "user_id": "usr_follow",
                "timestamp": iso(datetime.now(UTC)),
            },
            {
                "event": "onboarding_completed",
                "user_id": "usr_follow",
                "timestamp": iso(datetime.now(UTC)),
            },
        ]
    )
    expect(page.locator("#events tr")).to_have_count(3, timeout=UI_WAIT_MS)
    expect(page.locator("#events")).to_contain_text("onboarding_completed")
    assert row_ids(page, "events") == [second[1], second[0], first[0]]
    site.wait_projected()
    assert row_ids(page, "events") == [
        e["event_id"] for e in site.all_pages("/v1/events", "events", user_id="usr_follow")
    ]
    page.uncheck("#follow")
    expect(page.locator("#follow-state")).to_have_text("")


def test_follow_fills_in_an_event_that_became_visible_late(page: Page, site: Site) -> None:
    """On PostgreSQL a transaction can commit after a newer one: the list puts such an event
    where the API orders it, not on top (the shared list code, driven in the page)."""
    page.goto(f"{site.url}/app/events")
    order = page.evaluate(
        """() => {
            const body = document.createElement("tbody");
            const more = document.createElement("button");
            const pager = new FK.Pager({ body, more, fetchPage: null,
                row: (e) => FK.el("tr", { "data-event-id": e.event_id }) });
            for (const id of ["e5", "e3", "e1"]) body.append(pager.remember({ event_id: id }));
            const added = pager.fillIn([{ event_id: "e3" }, { event_id: "e2" }, { event_id: "e1" },
                                        { event_id: "e0" }]);
            pager.prepend([{ event_id: "e7" }, { event_id: "e6" }]);
            return [added, [...body.rows].map((r) => r.dataset.eventId)];
        }"""
    )
    assert order == [2, ["e7", "e6", "e5", "e3", "e2", "e1", "e0"]]
