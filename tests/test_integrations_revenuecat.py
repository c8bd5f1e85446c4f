"""RevenueCat webhooks (integrations.md §2): every row of the mapping table from payloads in
RevenueCat's own shape, the sandbox rule, identity, authentication and redelivery."""

from __future__ import annotations

from typing import Any

import pytest
from integrations_helpers import RC_PATH, connect, deliver, fixture, shown, stored, written

from conftest import Api, count_events

#: fixture → (canonical event, user_id, anonymous_id, properties it must carry, timestamp).
MAPPED: dict[str, tuple[str, str | None, str | None, dict[str, Any], str]] = {
    "initial_purchase_trial": (
        "trial_started",
        "usr_8f2c1a",
        None,
        {"plan_id": "pro_monthly", "trial_length_days": 7, "offer_id": "onboarding_v3"},
        "2024-03-15T14:22:00Z",
    ),
    "initial_purchase": (
        "subscription_started",
        "usr_8f2c1a",
        None,
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
    "renewal_trial_conversion": (
        "subscription_started",
        "usr_8f2c1a",
        None,
        {
            "plan_id": "pro_annual:annual-base",
            "revenue": 45.99,
            "currency": "EUR",
            "transaction_id": "2000000559876543",
            "trial_converted": True,
            "store": "google",
            "country": "DE",
        },
        "2024-03-22T14:22:00Z",
    ),
    "renewal": (
        "renewal_completed",
        "usr_8f2c1a",
        None,
        {
            "plan_id": "pro_monthly",
            "revenue": 9.99,
            "currency": "USD",
            "transaction_id": "2000000561111111",
            "trial_converted": False,
        },
        "2024-04-15T14:22:00Z",
    ),
    "cancellation_refund": (
        "refund_issued",
        "usr_8f2c1a",
        None,
        {"revenue": 9.99, "currency": "USD", "transaction_id": "2000000551234567"},
        "2024-03-21T05:46:40Z",
    ),
    "cancellation_unsubscribe": (
        "subscription_cancelled",
        "usr_8f2c1a",
        None,
        {"plan_id": "pro_monthly", "cancel_reason": "UNSUBSCRIBE"},
        "2024-04-01T19:33:20Z",
    ),
    "anonymous_initial_purchase": (
        "subscription_started",
        "usr_8f2c1a",
        "$RCAnonymousID:87c6049c58069238dce29853916d624c",
        {"transaction_id": "2000000551230000"},
        "2024-03-15T14:22:00Z",
    ),
}
DROPPED = {
    "test": "test_event",
    "expiration": "not_mapped",
    "unknown_type": "unknown_type",
    "sandbox_initial_purchase": "sandbox",
}


@pytest.fixture
def rc(api: Api) -> dict[str, Any]:
    return connect(api, "revenuecat")


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_each_row_of_the_table_maps(api: Api, rc: dict[str, Any], name: str) -> None:
    kind, user_id, anonymous_id, properties, timestamp = MAPPED[name]
    payload = fixture("revenuecat", name)
    answer = deliver(api, RC_PATH, rc["secret"], payload)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["dropped"], body["duplicates"]) == (1, 0, 0), body
    (event,) = stored(api)
    assert event["event_id"] == body["event_ids"][0]
    assert (event["event"], event["user_id"], event["anonymous_id"]) == (
        kind,
        user_id,
        anonymous_id,
    )
    assert event["timestamp"] == timestamp
    assert event["insert_id"] == f"revenuecat:{payload['event']['id']}"
    assert properties.items() <= event["properties"].items()


@pytest.mark.parametrize("name", sorted(DROPPED))
def test_dropped_types_answer_200_and_are_counted(api: Api, rc: dict[str, Any], name: str) -> None:
    answer = deliver(api, RC_PATH, rc["secret"], fixture("revenuecat", name))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["dropped"]) == (0, 1)
    assert body["reasons"][0]["reason"] == DROPPED[name]
    assert stored(api) == []
    assert shown(api, rc["id"])["dropped"] == {DROPPED[name]: 1}


def test_sandbox_is_kept_and_tagged_when_the_integration_says_so(api: Api) -> None:
    keeping = connect(api, "revenuecat", keep_sandbox=True)
    answer = deliver(
        api, RC_PATH, keeping["secret"], fixture("revenuecat", "sandbox_initial_purchase")
    )
    assert answer.json()["accepted"] == 1
    (event,) = stored(api)
    assert event["properties"]["environment"] == "sandbox"


def test_a_redelivery_is_a_duplicate_stored_once(api: Api, rc: dict[str, Any]) -> None:
    payload = fixture("revenuecat", "initial_purchase_trial")
    first = deliver(api, RC_PATH, rc["secret"], payload).json()
    again = deliver(api, RC_PATH, f"Bearer {rc['secret']}", payload).json()
    assert (again["accepted"], again["duplicates"]) == (1, 1)
    assert again["event_ids"] == first["event_ids"]
    assert len(stored(api)) == 1
    stats = shown(api, rc["id"])["sync_stats"]
    assert (stats["events_total"], stats["events_last_24h"]) == (1, 1)
    assert stats["earliest_event_at"] == "2024-03-15T14:22:00Z"


def test_failed_authentication_is_401_and_stores_nothing(api: Api, rc: dict[str, Any]) -> None:
    before = written(api.settings)
    for header in (None, "", "Bearer ", "wrong", "Bearer fkwh_wrong", "x" * 5000):
        answer = deliver(api, RC_PATH, header, fixture("revenuecat", "initial_purchase"))
        assert answer.status_code == 401, header
        assert answer.json()["error"] == "unauthorized"
    assert written(api.settings) == before
    assert count_events(api.settings) == 0


def test_another_providers_secret_is_refused(api: Api) -> None:
    adapty = connect(api, "adapty")
    answer = deliver(api, RC_PATH, adapty["secret"], fixture("revenuecat", "initial_purchase"))
    assert answer.status_code == 401


def test_deliveries_spend_no_ingest_quota(api: Api, rc: dict[str, Any]) -> None:
    """Providers do not honour 429: 120 deliveries in a row, over the 100 a minute limit."""
    payload = fixture("revenuecat", "renewal")
    for n in range(120):
        payload["event"]["id"] = f"quota-{n}"
        payload["event"]["transaction_id"] = f"txn-{n}"
        assert deliver(api, RC_PATH, rc["secret"], payload).status_code == 200
    assert count_events(api.settings) == 120
