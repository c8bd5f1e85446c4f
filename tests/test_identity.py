"""Identity (analytics.md §1) and profiles (§2) through the read API, on every backend.

The projector thread is off here: each test projects the log itself (``catch_up``), so what
the API answers follows from what was sent, never from when a thread ran."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from readmodels import project_all
from starlette.testclient import TestClient

from flokit.app import build_app
from flokit.model import KeyKind
from flokit.settings import Settings
from flokit.store import Store

from conftest import Api, event, settings_for


@pytest.fixture
def api(backend: str, request: pytest.FixtureRequest, store: Store) -> Iterator[Api]:
    settings = settings_for(backend, request, projector=False)
    workspace, issued = store.create_workspace("test")
    read_only = store.create_key(workspace, KeyKind.READ_ONLY)
    with TestClient(build_app(settings, store=store)) as client:
        yield Api(client, store, settings, workspace.public_id, issued.secret, read_only.secret)


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest) -> Settings:
    return settings_for(backend, request, projector=False)


def send(api: Api, *events: dict[str, Any]) -> None:
    """Store the events and project the log up to them."""
    answer = api.batch(list(events))
    assert answer.status_code == 200 and answer.json()["rejected"] == 0, answer.text
    project_all(api.store)


def get(api: Api, path: str, status: int = 200) -> Any:
    answer = api.client.get(path, headers=api.headers(api.ro))
    assert answer.status_code == status, answer.text
    return answer.json()


def at(day: int, hour: int = 0) -> str:
    return f"2024-03-{day:02d}T{hour:02d}:00:00Z"


def install(anon: str, day: int, channel: str = "meta") -> dict[str, Any]:
    props = {"campaign_id": "c1", "channel": channel, "country": "US"}
    return event(
        "install_attributed", user_id=None, anonymous_id=anon, timestamp=at(day), properties=props
    )


def seen(anon: str | None, user: str | None, day: int, hour: int = 0) -> dict[str, Any]:
    """A screen view (a custom event: it may come with an anonymous id alone)."""
    return event(
        "screen_viewed", user_id=user, anonymous_id=anon, timestamp=at(day, hour), properties={}
    )


def paid(
    user: str, day: int, txn: str, amount: float = 49.99, currency: str = "USD"
) -> dict[str, Any]:
    props = {"plan_id": "annual", "revenue": amount, "currency": currency, "transaction_id": txn}
    return event("subscription_started", user_id=user, timestamp=at(day), properties=props)


def test_a_link_attributes_earlier_anonymous_events_and_the_install(api: Api) -> None:
    send(api, install("a1", 1), seen("a1", None, 1, 1))
    assert get(api, "/v1/users?kind=anonymous")["users"][0]["id"] == "a1"
    get(api, "/v1/users/u1", 404)
    send(api, seen("a1", "u1", 2), paid("u1", 3, "t1"))
    profile = get(api, "/v1/users/u1")
    assert profile["anonymous_ids"] == ["a1"]
    assert profile["event_count"] == 4
    assert profile["first_seen"] == at(1)
    assert profile["attribution"]["channel"] == "meta"
    assert profile["attribution"]["attributed_at"] == at(1)
    timeline = get(api, "/v1/users/u1/events?order=asc")["events"]
    assert [e["event"] for e in timeline] == [
        "install_attributed",
        "screen_viewed",
        "screen_viewed",
        "subscription_started",
    ]
    assert get(api, "/v1/users?kind=anonymous")["users"] == []  # a1 is part of u1 now
    identity = get(api, "/v1/identity")
    assert (identity["users"], identity["anonymous_ids_linked"]) == (1, 1)
    assert identity["anonymous_ids_unlinked"] == 0


def test_the_earliest_pairing_wins_even_when_it_arrives_last(api: Api) -> None:
    send(api, install("a1", 1), seen("a1", "u2", 5))
    assert get(api, "/v1/users/u2")["anonymous_ids"] == ["a1"]
    send(api, seen("a1", "u1", 2))  # sent later, happened earlier: the link moves to u1
    u1, u2 = get(api, "/v1/users/u1"), get(api, "/v1/users/u2")
    assert u1["anonymous_ids"] == ["a1"] and u2["anonymous_ids"] == []
    assert u1["attribution"] is not None and u2["attribution"] is None
    assert u2["event_count"] == 1  # its own event only: never merged
    conflict = {"anonymous_id": "a1", "linked_user_id": "u1", "other_user_id": "u2"}
    for profile in (u1, u2):
        assert [{k: c[k] for k in conflict} for c in profile["conflicts"]] == [conflict]
    identity = get(api, "/v1/identity")
    assert identity["conflicts"]["count"] == 1
    assert identity["conflicts"]["newest"][0]["timestamp"] == at(5)
    assert identity["anonymous_ids_linked"] == 1


def test_ties_in_timestamp_go_to_the_first_received(api: Api) -> None:
    send(api, seen("a1", "u1", 2))
    send(api, seen("a1", "u2", 2))
    assert get(api, "/v1/users/u1")["anonymous_ids"] == ["a1"]
    assert get(api, "/v1/identity")["conflicts"]["count"] == 1


@pytest.mark.parametrize("placeholder", ["undefined", "NULL", "Guest", "0", "[object Object]", " "])
def test_placeholder_ids_are_stored_but_never_linked(api: Api, placeholder: str) -> None:
    send(api, seen(placeholder, "u1", 1), seen("a1", placeholder, 1), seen(placeholder, "u2", 2))
    assert get(api, "/v1/users/u1")["anonymous_ids"] == []
    assert get(api, "/v1/users/u2")["anonymous_ids"] == []
    identity = get(api, "/v1/identity")
    assert identity["anonymous_ids_linked"] == 0 and identity["conflicts"]["count"] == 0
    stored = get(api, f"/v1/events?anonymous_id={placeholder}")["events"]
    assert len(stored) == 2 and {e["anonymous_id"] for e in stored} == {placeholder}


def test_subscription_state_and_revenue_net_of_refunds(api: Api) -> None:
    trial = event("trial_started", user_id="u1", timestamp=at(1))
    refund_props = {"revenue": 49.99, "currency": "USD", "transaction_id": "t1"}
    refund = event("refund_issued", user_id="u1", timestamp=at(20), properties=refund_props)
    send(api, trial, paid("u1", 8, "t1"), paid("u1", 9, "t2", 10.0, "EUR"))
    sub = get(api, "/v1/users/u1")["subscription"]
    assert sub["status"] == "active" and sub["trial_converted"] is True
    assert (sub["trial_started_at"], sub["started_at"]) == (at(1), at(8))
    send(api, refund)
    profile = get(api, "/v1/users/u1")
    assert profile["subscription"]["status"] == "refunded"
    assert profile["revenue"] == {
        "EUR": {"gross": 10.0, "refunded": 0.0, "net": 10.0},
        "USD": {"gross": 49.99, "refunded": 49.99, "net": 0.0},
    }


def test_join_rate_and_unattributed_revenue(api: Api) -> None:
    send(
        api,
        install("a1", 1),
        seen("a1", "u1", 1),
        paid("u1", 3, "t1"),  # joined within 7 days
        install("a2", 1),
        seen("a2", "u2", 1),
        paid("u2", 20, "t2"),  # too late
        paid("u3", 2, "t3"),  # revenue with no attribution
    )
    identity = get(api, "/v1/identity")
    assert identity["install_join_rate_7d"] == 0.5
    assert identity["unattributed_revenue_share"] == pytest.approx(1 / 3, abs=1e-6)


def test_lists_page_through_everyone_most_recent_first(api: Api) -> None:
    send(api, *[seen(f"a{i}", f"u{i}", 1 + i % 20, i % 24) for i in range(25)], seen("x", None, 1))
    pages, cursor = [], None
    while True:
        query = "/v1/users?limit=4" + (f"&cursor={cursor}" if cursor else "")
        body = get(api, query)
        pages += body["users"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(pages) == 26 and len({(p["kind"], p["id"]) for p in pages}) == 26
    assert [p["last_seen"] for p in pages] == sorted((p["last_seen"] for p in pages), reverse=True)
    assert {p["id"] for p in get(api, "/v1/users?q=u1")["users"]} == {
        "u1",
        *(f"u1{i}" for i in range(10)),
    }
    assert [p["id"] for p in get(api, "/v1/users?q=a7")["users"]] == ["u7"]  # by a linked id


def test_a_timeline_pages_by_timestamp_both_ways(api: Api) -> None:
    send(
        api,
        *[seen("a1" if i % 2 else "x", "u1" if i % 3 else None, 1 + i, 0) for i in range(1, 13)],
    )
    full = get(api, "/v1/users/u1/events?order=asc&limit=1000")["events"]
    assert [e["timestamp"] for e in full] == sorted(e["timestamp"] for e in full)
    for order in ("asc", "desc"):
        seen_ids, cursor = [], None
        while True:
            query = f"/v1/users/u1/events?order={order}&limit=3" + (
                f"&cursor={cursor}" if cursor else ""
            )
            body = get(api, query)
            seen_ids += [e["event_id"] for e in body["events"]]
            if (cursor := body["next_cursor"]) is None:
                break
        expected = [e["event_id"] for e in full]
        assert seen_ids == (expected if order == "asc" else expected[::-1])


def test_every_answer_says_how_far_the_projection_is(api: Api) -> None:
    send(api, seen("a1", "u1", 1))
    api.batch([seen("a1", "u1", 2)])  # stored, not projected yet
    for path in ("/v1/users", "/v1/users/u1", "/v1/users/u1/events", "/v1/identity"):
        assert get(api, path)["as_of"] == 1
    assert get(api, "/v1/users/u1")["event_count"] == 1
    project_all(api.store)
    assert get(api, "/v1/users/u1")["as_of"] == 2


def test_explorer_filters_see_projected_and_unprojected_events(api: Api) -> None:
    send(api, seen("a1", "u1", 1), seen("a2", "u2", 1))
    api.batch([seen("a1", "u1", 2), event("trial_started", user_id="u1", timestamp=at(3))])
    for query, count in (
        ("user_id=u1", 3),
        ("anonymous_id=a1", 2),
        ("event=screen_viewed", 3),
        ("user_id=u1&event=trial_started", 1),
        ("user_id=nobody", 0),
    ):
        events = get(api, f"/v1/events?{query}")["events"]
        assert len(events) == count, query
        assert len({e["event_id"] for e in events}) == count
    project_all(api.store)
    assert len(get(api, "/v1/events?user_id=u1")["events"]) == 3


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/users?limit=0", "limit"),
        ("/v1/users?limit=x", "limit"),
        ("/v1/users?cursor=zzz", "cursor"),
        ("/v1/users?kind=robot", "kind"),
        ("/v1/users?q=" + "x" * 256, "q"),
        ("/v1/users?q=%00", "q"),
        ("/v1/users?page=2", "page"),
        ("/v1/users/u1/events?order=up", "order"),
        ("/v1/users/u1/events?cursor=bad", "cursor"),
        ("/v1/users/u1/events?limit=1001", "limit"),
        ("/v1/identity?x=1", "x"),
    ],
)
def test_bad_parameters_are_400s_naming_them(api: Api, path: str, field: str) -> None:
    send(api, seen("a1", "u1", 1))
    body = get(api, path, 400)
    assert body["error"] == "invalid_request" and body["field"] == field


@pytest.mark.parametrize("path", ["/v1/users/nobody", "/v1/users/nobody/events", "/v1/users/%00"])
def test_unknown_users_are_404s(api: Api, path: str) -> None:
    assert get(api, path, 404)["error"] == "not_found"


def test_the_read_api_needs_a_key_of_the_workspace(api: Api) -> None:
    send(api, seen("a1", "u1", 1))
    for path in ("/v1/users", "/v1/users/u1", "/v1/identity"):
        assert api.client.get(path).status_code == 401
    other = api.store.create_workspace("other")[1].secret
    assert api.client.get("/v1/users/u1", headers=api.headers(other)).status_code == 404
    assert api.client.get("/v1/identity", headers=api.headers(other)).json()["users"] == 0
