"""Reading events back: GET /v1/events and GET /v1/events/{event_id}."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Api, event


def get(api: Api, path: str, **params: Any) -> Any:
    return api.client.get(path, params=params, headers=api.headers())


def test_event_reads_back_exactly_as_sent(api: Api) -> None:
    properties = {"paywall_id": "pw", "nested": {"list": [1, 2.5, None, True, "ü"]}, "big": 2**70}
    sent = event(
        timestamp="2024-03-15T16:20:00.25+02:00",
        anonymous_id="dev",
        insert_id="ins",
        properties=properties,
    )
    event_id = api.batch([sent]).json()["event_ids"][0]
    stored = get(api, f"/v1/events/{event_id}").json()
    assert list(stored) == [
        "event_id",
        "event",
        "user_id",
        "anonymous_id",
        "timestamp",
        "received_at",
        "properties",
        "insert_id",
    ]
    assert stored["properties"] == properties
    assert stored["timestamp"] == "2024-03-15T14:20:00.250000Z"
    assert stored["received_at"].endswith("Z")
    assert (stored["event"], stored["user_id"], stored["anonymous_id"], stored["insert_id"]) == (
        "paywall_viewed",
        "usr_1",
        "dev",
        "ins",
    )


def test_absent_properties_read_back_as_empty_object(api: Api) -> None:
    event_id = api.batch(
        [{"event": "x", "user_id": "u", "timestamp": "2024-03-15T14:20:00Z"}]
    ).json()
    assert get(api, f"/v1/events/{event_id['event_ids'][0]}").json()["properties"] == {}


def test_unknown_event_id_is_404(api: Api) -> None:
    for missing in ["evt_00000000000000000000", "nonsense"]:
        response = get(api, f"/v1/events/{missing}")
        assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_newest_received_first_with_limit(api: Api) -> None:
    ids = [api.batch([event(user_id=f"u{i}")]).json()["event_ids"][0] for i in range(5)]
    page = get(api, "/v1/events", limit=3).json()
    assert [e["event_id"] for e in page["events"]] == ids[::-1][:3]
    assert page["next_cursor"]


def test_default_limit_is_100(api: Api) -> None:
    api.batch([event() for _ in range(150)])
    assert len(get(api, "/v1/events").json()["events"]) == 100


def test_filters(api: Api) -> None:
    api.batch(
        [
            event(user_id="a", timestamp="2024-01-01T00:00:00Z"),
            event("trial_started", user_id="a", timestamp="2024-02-01T00:00:00Z"),
            event(user_id="b", anonymous_id="d1", timestamp="2024-03-01T00:00:00Z"),
        ]
    )

    def users(**params: Any) -> list[tuple[str, str]]:
        return [
            (e["event"], e["user_id"]) for e in get(api, "/v1/events", **params).json()["events"]
        ]

    assert users(user_id="a") == [("trial_started", "a"), ("paywall_viewed", "a")]
    assert users(event="trial_started") == [("trial_started", "a")]
    assert users(anonymous_id="d1") == [("paywall_viewed", "b")]
    assert users(since="2024-02-01T00:00:00Z") == [("paywall_viewed", "b"), ("trial_started", "a")]
    assert users(until="2024-02-01T00:00:00Z") == [("paywall_viewed", "a")]
    assert users(since="2024-01-15T01:00:00+01:00", until="2024-02-15T00:00:00Z") == [
        ("trial_started", "a")
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "bogus"}, "cursor"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-01-01"}, "until"),
        ({"users": "a"}, "users"),
    ],
    ids=["limit 0", "limit 1001", "limit text", "cursor", "since", "until", "unknown param"],
)
def test_bad_query_is_400(api: Api, params: dict[str, str], field: str) -> None:
    response = get(api, "/v1/events", **params)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request" and response.json()["field"] == field


def test_cursor_sees_every_event_once_while_new_ones_arrive(api: Api) -> None:
    first = api.batch([event(user_id=f"old{i}") for i in range(250)]).json()["event_ids"]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 40} | ({"cursor": cursor} if cursor else {})
        page = get(api, "/v1/events", **params).json()
        seen += [e["event_id"] for e in page["events"]]
        api.batch([event(user_id="new")])  # arrives while paging
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(first) and len(seen) == len(set(seen))
