"""Data → Reports against a seeded workspace (events and spend sent through the real API, a real
``flokit serve``, headless Chromium): every cell of the payback table and every point of the
charts is what /v1/reports/payback and /v1/reports/cohorts answer; sorting, grouping and the date
range work; the API's refusals, an empty range and ``as_of`` reach the person; and no request
leaves 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from server import Server, cli

START, END = "2024-03-01", "2024-03-31"
PROJECTION_WAIT_S = 20.0
#: How each column of the table reads (the page's COLUMNS), by the payback row's field.
KINDS = {
    "group": "text",
    "users": "count",
    "installs": "count",
    "spend": "money",
    "trials": "count",
    "trials_converted": "count",
    "subscriptions": "count",
    "renewals": "count",
    "cac": "money",
    "trial_start_rate": "rate",
    "trial_conversion_rate": "rate",
    "renewal_rate": "rate",
    "revenue": "money",
    "revenue_30d": "money",
    "revenue_60d": "money",
    "revenue_90d": "money",
    "roas_30d": "rate",
    "roas_60d": "rate",
    "roas_90d": "rate",
    "payback_days": "count",
    "ltv_projected": "money",
}
SERIES_BLUE = (37, 99, 235)  # the first curve's and the bars' colour (#2563eb)


@dataclass
class Site:
    server: Server
    key: str
    position: int = 0

    @property
    def url(self) -> str:
        return self.server.url

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(
            self.url + path, params=params, headers={"Authorization": f"Bearer {self.key}"}
        )

    def api(self, path: str, **params: Any) -> Any:
        answer = self.get(path, **params)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = httpx.post(
            self.url + path, json=body, headers={"Authorization": f"Bearer {self.key}"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def payback(self, **params: Any) -> Any:
        return self.api("/v1/reports/payback", **{"start_date": START, "end_date": END, **params})

    def cohorts(self, **params: Any) -> Any:
        defaults = {"cohort_start": START, "cohort_end": END}
        return self.api("/v1/reports/cohorts", **{**defaults, **params})


def seed_events() -> list[dict[str, Any]]:
    """Installs of three campaigns in March 2024 (and a user with none), trials that convert
    or not, renewals, a refund, and a payment in a currency without an exchange rate."""
    events: list[dict[str, Any]] = []

    def person(
        n: int, campaign: tuple[str, str, str] | None, day: int, trial: bool, paid: list[float]
    ) -> None:
        user, anon = f"usr_{n}", f"anon_{n}"
        at = f"2024-03-{day:02d}T10:00:00Z"
        if campaign:
            name, channel, country = campaign
            events.append(
                {
                    "event": "install_attributed",
                    "anonymous_id": anon,
                    "timestamp": at,
                    "properties": {"campaign_id": name, "channel": channel, "country": country},
                }
            )
        events.append(
            {"event": "user_created", "user_id": user, "anonymous_id": anon, "timestamp": at}
        )
        offer = {"offer_id": f"of_{n % 2}", "paywall_id": f"pw_{n % 3}"}
        if trial:
            events.append(
                {
                    "event": "trial_started",
                    "user_id": user,
                    "timestamp": f"2024-03-{day:02d}T11:00:00Z",
                    "properties": {"plan_id": "p_year", **offer},
                }
            )
        for k, amount in enumerate(paid):
            events.append(
                {
                    "event": "subscription_started" if k == 0 else "renewal_completed",
                    "user_id": user,
                    "timestamp": f"2024-{3 + k:02d}-{day + 7:02d}T12:00:00Z",
                    "properties": {
                        "plan_id": "p_month",
                        "revenue": amount,
                        "currency": "USD",
                        "transaction_id": f"tx_{n}_{k}",
                        **({"trial_converted": True} if trial and k == 0 else {}),
                        **offer,
                    },
                }
            )

    spring, search = ("c_spring", "meta", "US"), ("c_search", "google", "DE")
    tiktok = ("c_tiktok", "tiktok", "FR")
    person(1, spring, 1, True, [19.99, 19.99, 19.99])
    person(2, spring, 2, True, [])
    person(3, spring, 9, False, [9.99])
    person(4, search, 3, True, [24.5])
    person(5, search, 10, True, [24.5, 24.5])
    person(6, tiktok, 11, True, [7.25])
    person(7, None, 5, False, [12.0])
    person(8, ("c_cheap", "meta", "GB"), 4, False, [9.99])  # pays back its 5.00 on day 7
    events.append(
        {
            "event": "refund_issued",
            "user_id": "usr_4",
            "timestamp": "2024-03-20T09:00:00Z",
            "properties": {"revenue": 24.5, "currency": "USD", "transaction_id": "tx_4_0"},
        }
    )
    events.append(
        {
            "event": "renewal_completed",
            "user_id": "usr_6",
            "timestamp": "2024-04-18T12:00:00Z",
            "properties": {
                "plan_id": "p_month",
                "revenue": 6.5,
                "currency": "GBP",
                "transaction_id": "tx_6_gbp",
            },
        }
    )
    return events


SPEND = [
    {"date": "2024-03-01", "channel": "meta", "campaign_id": "c_spring", "spend": 40},
    {"date": "2024-03-02", "channel": "meta", "campaign_id": "c_spring", "spend": 35.5},
    {"date": "2024-03-03", "channel": "google", "campaign_id": "c_search", "spend": 12.25},
    {"date": "2024-03-10", "channel": "google", "campaign_id": "c_search", "spend": 20},
    {"date": "2024-03-11", "channel": "tiktok", "campaign_id": "c_tiktok", "spend": 100},
    {"date": "2024-03-04", "channel": "meta", "campaign_id": "c_cheap", "spend": 5},
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = tmp_path_factory.mktemp("reports-data") / "reports.db"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    server = Server(db)
    try:
        seeded = Site(server, key)
        events = seed_events()
        body = seeded.post("/v1/batch/events", {"events": events})
        assert body["accepted"] == len(events), body
        seeded.position = len(events)  # a fresh database: the log's positions are 1, 2, …
        assert seeded.post("/v1/spend", {"rows": SPEND})["accepted"] == len(SPEND)
        wait_projected(seeded)
        yield seeded
    finally:
        server.stop()


def wait_projected(site: Site) -> None:
    """Until the projection has reached every event sent (bounded; then a failure)."""
    deadline = time.monotonic() + PROJECTION_WAIT_S
    as_of = -1
    while time.monotonic() < deadline:
        as_of = site.api("/v1/identity")["as_of"]
        if as_of >= site.position:
            return
        time.sleep(0.1)
    raise AssertionError(f"projection at {as_of}, not at {site.position}")


@pytest.fixture
def page(fresh_page: Page, site: Site) -> Page:
    """A page with the key pasted once; no request leaves 127.0.0.1, no script error, no CSP
    violation (tests/chromium.py)."""
    fresh_page.goto(f"{site.url}/app/events")
    fresh_page.fill("#key", site.key)
    fresh_page.click("#save-key")
    expect(fresh_page.locator("#key-state")).to_have_text("Key saved in this browser.")
    return fresh_page


def fixed(value: float, places: int) -> str:
    """JavaScript's toFixed of a positive or negative double (halves away from zero)."""
    quantum = Decimal(1).scaleb(-places)
    return str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))


def shown(kind: str, value: Any) -> str:
    """What the page shows for a value of a column of that kind."""
    if value is None:
        return "—"
    if kind == "money":
        return fixed(value, 2)
    if kind == "rate":
        return f"{fixed(value * 100, 1)} %"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def table_cells(page: Page) -> list[list[list[str]]]:
    """Each row's cells as [field, JSON value, text]."""
    cells: list[list[list[str]]] = page.locator("#payback-rows tr").evaluate_all(
        """(rows) => rows.map((r) => [...r.cells].map(
               (c) => [c.dataset.key, c.dataset.value, c.textContent]))"""
    )
    return cells


def assert_table_is(page: Page, rows: list[dict[str, Any]]) -> None:
    expect(page.locator("#payback-rows tr")).to_have_count(len(rows))
    shown_rows = table_cells(page)
    for cells, row in zip(shown_rows, rows, strict=True):
        assert [key for key, _, _ in cells] == list(KINDS) and set(KINDS) == set(row)
        for key, raw, text in cells:
            assert json.loads(raw) == row[key], (row["group"], key)
            assert text == shown(KINDS[key], row[key]), (row["group"], key)


def sorted_rows(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """The page's order: by the field, missing values last either way, ties as they came."""
    present = [r for r in rows if r[key] is not None]
    return [
        *sorted(present, key=lambda r: r[key], reverse=descending),
        *[r for r in rows if r[key] is None],
    ]


def chart(page: Page, name: str) -> Any:
    """What a uPlot chart of the page holds: its series' labels, its data, and how many of its
    canvas pixels are the first series' colour (it was drawn)."""
    return page.evaluate(
        """([name, rgb]) => {
            const u = FKReports.charts[name];
            if (!u) return null;
            const { width, height } = u.ctx.canvas;
            const pixels = u.ctx.getImageData(0, 0, width, height).data;
            let coloured = 0;
            for (let i = 0; i < pixels.length; i += 4) {
                if (pixels[i] === rgb[0] && pixels[i + 1] === rgb[1] && pixels[i + 2] === rgb[2]
                    && pixels[i + 3] > 0) coloured += 1;
            }
            return { labels: u.series.map((s) => s.label), data: u.data, coloured };
        }""",
        [name, list(SERIES_BLUE)],
    )


def expected_curves(cohorts: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """The payback curves the page must draw from the cohorts answer."""
    weeks = max(len(c["weeks"]) for c in cohorts)
    labels, data = ["Week"], [list(range(weeks))]
    for cohort in cohorts:
        name = f"{cohort['group']} · week of {cohort['cohort_week']}"
        revenue = [w["cumulative_net_revenue"] for w in cohort["weeks"]]
        labels.append(name)
        data.append(revenue + [None] * (weeks - len(revenue)))
        if cohort["spend"] is not None:
            labels.append(f"{name} spend")
            data.append([cohort["spend"]] * weeks)
    return labels, data


def test_the_table_and_charts_are_the_apis_figures(page: Page, site: Site) -> None:
    payback = site.payback()
    cohorts = site.cohorts()
    rows = payback["rows"]
    assert len(rows) >= 5 and any(r["spend"] for r in rows), "the seed makes groups with spend"
    assert any(r["payback_days"] is not None for r in rows), "and one that pays back"
    page.goto(f"{site.url}/app/reports?start_date={START}&end_date={END}")
    assert_table_is(page, rows)
    currency = payback["meta"]["currency"]
    expect(page.locator("#payback-head th[data-key=spend]")).to_have_text(f"Spend ({currency})")
    meta = page.locator("#report-meta")
    expect(meta).to_contain_text(f"Amounts in {currency}")
    expect(meta).to_contain_text(f"payback window {payback['meta']['cohort_window_days']} days")
    unconverted = payback["meta"]["unconverted_events"]
    assert unconverted >= 1, "the seed has a GBP payment and no GBP rate"
    expect(meta).to_contain_text(f"{unconverted} revenue events left out")
    expect(page.locator("#as-of")).to_have_attribute("data-as-of", str(payback["meta"]["as_of"]))
    expect(page.locator("#as-of")).to_have_text(
        f"Data as of projection at log position {payback['meta']['as_of']}."
    )

    labels, data = expected_curves(cohorts["cohorts"])
    curves = chart(page, "curves")
    assert curves["labels"] == labels
    assert curves["data"] == data
    assert curves["coloured"] > 0, "the first curve was drawn on the canvas"
    bars = chart(page, "conversion")
    assert bars["labels"] == ["Group", "Trial conversion"]
    assert bars["data"] == [list(range(len(rows))), [r["trial_conversion_rate"] for r in rows]]
    assert bars["coloured"] > 0, "the bars were drawn on the canvas"


def test_columns_sort_both_ways(page: Page, site: Site) -> None:
    rows = site.payback()["rows"]
    page.goto(f"{site.url}/app/reports?start_date={START}&end_date={END}")
    assert_table_is(page, rows)
    for key in ("spend", "group", "payback_days", "trial_conversion_rate"):
        head = page.locator(f"#payback-head th[data-key={key}]")
        head.locator("button").click()
        expect(head).to_have_attribute("aria-sort", "ascending")
        assert_table_is(page, sorted_rows(rows, key, descending=False))
        head.locator("button").click()
        expect(head).to_have_attribute("aria-sort", "descending")
        assert_table_is(page, sorted_rows(rows, key, descending=True))


def test_grouping_and_range_refetch(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/app/reports?start_date={START}&end_date={END}")
    assert_table_is(page, site.payback()["rows"])
    with page.expect_response(lambda r: "/v1/reports/payback" in r.url) as answered:
        page.select_option("#f-group_by", "country")
    assert "group_by=country" in answered.value.url
    expect(page).to_have_url(
        f"{site.url}/app/reports?start_date={START}&end_date={END}&group_by=country"
    )
    assert_table_is(page, site.payback(group_by="country")["rows"])
    expect(page.locator("#payback-head th[data-key=group]")).to_have_text("Country")
    labels, data = expected_curves(site.cohorts(group_by="country")["cohorts"])
    curves = chart(page, "curves")
    assert (curves["labels"], curves["data"]) == (labels, data)

    with page.expect_response(lambda r: "/v1/reports/payback" in r.url) as answered:
        page.fill("#f-start_date", "2024-03-09")
        page.fill("#f-end_date", "2024-03-12")
        page.click("#apply")
    assert "start_date=2024-03-09" in answered.value.url
    narrow = site.payback(start_date="2024-03-09", end_date="2024-03-12", group_by="country")
    assert 0 < len(narrow["rows"]) < len(site.payback(group_by="country")["rows"])
    assert_table_is(page, narrow["rows"])


def test_refusals_empty_ranges_and_no_key(page: Page, site: Site) -> None:
    refused = site.get("/v1/reports/payback", start_date=END, end_date=START)
    assert refused.status_code == 400
    page.goto(f"{site.url}/app/reports?start_date={END}&end_date={START}")
    expect(page.locator("#message")).to_contain_text(refused.json()["message"])
    expect(page.locator("#message")).to_contain_text("HTTP 400")
    expect(page.locator("#payback-rows tr")).to_have_count(0)

    empty = site.payback(start_date="2023-01-01", end_date="2023-01-31")
    assert empty["rows"] == []
    page.goto(f"{site.url}/app/reports?start_date=2023-01-01&end_date=2023-01-31")
    expect(page.locator("#payback-empty")).to_be_visible()
    expect(page.locator("#curves-empty")).to_be_visible()
    expect(page.locator("#message")).to_be_hidden()
    expect(page.locator("#as-of")).to_have_attribute("data-as-of", str(empty["meta"]["as_of"]))


def test_the_payback_window_goes_to_the_api(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/app/reports?start_date={START}&end_date={END}")
    assert_table_is(page, site.payback()["rows"])
    with page.expect_response(lambda r: "/v1/reports/payback" in r.url) as answered:
        page.fill("#f-cohort_window_days", "6")
        page.press("#f-cohort_window_days", "Enter")
    assert "cohort_window_days=6" in answered.value.url
    week = site.payback(cohort_window_days=6)
    assert week["rows"] != site.payback()["rows"], "c_cheap pays back on day 7"
    assert_table_is(page, week["rows"])
    expect(page.locator("#report-meta")).to_contain_text("payback window 6 days")
