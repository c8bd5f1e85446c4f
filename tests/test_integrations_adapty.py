"""Adapty webhooks (integrations.md §4): every default mapping from payloads in Adapty's own
shape, renamed events, the sandbox rule, identity and the ``{}`` check."""

from __future__ import annotations

from typing import Any

import pytest
from integrations_helpers import ADAPTY_PATH, connect, deliver, fixture, shown, stored, written

from conftest import Api

#: fixture → (canonical event, properties it must carry, timestamp).
MAPPED: dict[str, tuple[str, dict[str, Any], str]] = {
    "trial_started": ("trial_started", {"plan_id": "pro_monthly"}, "2024-03-15T14:22:00Z"),
    "subscription_started": (
        "subscription_started",
        {
            "plan_id": "pro_monthly",
            "revenue": 9.99,
            "currency": "USD",
            "transaction_id": "2000000551234567",
            "trial_converted": False,
            "store": "apple",
        },
        "2024-03-15T14:22:00Z",
    ),
    "trial_converted": (
        "subscription_started",
        {"revenue": 45.99, "currency": "EUR", "trial_converted": True, "store": "google"},
        "2024-03-22T14:22:05Z",
    ),
    "subscription_renewed": (
        "renewal_completed",
        {"plan_id": "pro_monthly", "transaction_id": "2000000561111111", "revenue": 9.99},
        "2024-04-15T14:22:03Z",
    ),
    "subscription_renewal_cancelled": (
        "subscription_cancelled",
        {"plan_id": "pro_monthly"},
        "2024-04-01T19:33:20Z",
    ),
    "trial_renewal_cancelled": (
        "subscription_cancelled",
        {"plan_id": "pro_monthly"},
        "2024-03-18T08:00:00Z",
    ),
    "subscription_refunded": (
        "refund_issued",
        {"revenue": 9.99, "currency": "USD", "transaction_id": "2000000551234567"},
        "2024-03-21T05:46:40Z",
    ),
    "non_subscription_purchase_refunded": (
        "refund_issued",
        {"revenue": 4.99, "currency": "USD", "transaction_id": "2000000570000000"},
        "2024-03-25T10:00:00Z",
    ),
}


@pytest.fixture
def adapty(api: Api) -> dict[str, Any]:
    return connect(api, "adapty")


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_each_default_mapping(api: Api, adapty: dict[str, Any], name: str) -> None:
    kind, properties, timestamp = MAPPED[name]
    payload = fixture("adapty", name)
    body = deliver(api, ADAPTY_PATH, adapty["secret"], payload).json()
    assert (body["accepted"], body["dropped"]) == (1, 0), body
    (event,) = stored(api)
    assert (event["event"], event["user_id"], event["timestamp"]) == (kind, "usr_8f2c1a", timestamp)
    assert event["insert_id"] == f"adapty:{payload['event_properties']['profile_event_id']}"
    assert properties.items() <= event["properties"].items()


def test_the_integration_check_is_200_with_json(api: Api, adapty: dict[str, Any]) -> None:
    before = count_rows(api)
    answer = deliver(api, ADAPTY_PATH, adapty["secret"], fixture("adapty", "integration_check"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "status": "ok",
        "accepted": 0,
        "duplicates": 0,
        "dropped": 0,
        "event_ids": [],
        "reasons": [],
    }
    assert count_rows(api) == before


def count_rows(api: Api) -> int:
    return sum(len(rows) for table, rows in written(api.settings) if table == "events")


def test_unknown_and_sandbox_events_are_dropped_and_counted(
    api: Api, adapty: dict[str, Any]
) -> None:
    for name in ("access_level_updated", "sandbox_subscription_started"):
        assert (
            deliver(api, ADAPTY_PATH, adapty["secret"], fixture("adapty", name)).status_code == 200
        )
    assert stored(api) == []
    assert shown(api, adapty["id"])["dropped"] == {"unknown_type": 1, "sandbox": 1}


def test_renamed_events_map_through_the_integrations_table(api: Api) -> None:
    renamed = connect(api, "adapty", event_names={"Renewal OK": "subscription_renewed"})
    payload = fixture("adapty", "renamed_subscription_renewed")
    assert deliver(api, ADAPTY_PATH, renamed["secret"], payload).json()["accepted"] == 1
    assert stored(api)[0]["event"] == "renewal_completed"


def test_without_a_customer_user_id_the_profile_is_anonymous(
    api: Api, adapty: dict[str, Any]
) -> None:
    """trial_started needs a user_id (contract §4): the anonymous trial is dropped as invalid,
    counted, and listed among the integration's errors."""
    payload = fixture("adapty", "anonymous_trial_started")
    body = deliver(api, ADAPTY_PATH, adapty["secret"], payload).json()
    assert body["reasons"][0]["reason"] == "invalid"
    assert "user_id" in body["reasons"][0]["detail"]
    described = shown(api, adapty["id"])
    assert described["dropped"] == {"invalid": 1}
    assert "user_id" in described["errors"][0]["message"]


def test_a_redelivery_is_a_duplicate(api: Api, adapty: dict[str, Any]) -> None:
    payload = fixture("adapty", "subscription_renewed")
    first = deliver(api, ADAPTY_PATH, adapty["secret"], payload).json()
    again = deliver(api, ADAPTY_PATH, adapty["secret"], payload).json()
    assert again["duplicates"] == 1 and again["event_ids"] == first["event_ids"]
    assert len(stored(api)) == 1


def test_a_wrong_authorization_is_401_and_stores_nothing(api: Api, adapty: dict[str, Any]) -> None:
    before = written(api.settings)
    for header in (None, f"Bearer {adapty['secret']}", adapty["secret"] + "x"):
        answer = deliver(api, ADAPTY_PATH, header, fixture("adapty", "subscription_started"))
        assert answer.status_code == 401
    assert written(api.settings) == before
