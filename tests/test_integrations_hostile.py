"""Hostile deliveries: each receiver answers 400 or 200 with the reason it dropped, never a
5xx, and stores nothing half-way (integrations.md §1; the ingest endpoints' bad-input rules)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integrations_helpers import (
    ADAPTY_PATH,
    ADJUST_PATH,
    RC_PATH,
    connect,
    deliver,
    fixture,
    stored,
)

from flokit.integrations.stripe_signature import expected_signature

from conftest import Api

STRIPE_SECRET = "whsec_hostile"
#: Each example adds integrations to the test's workspace; harmless, so the check is off.
FIXTURE_CHECK = HealthCheck.function_scoped_fixture
Send = Callable[[bytes], Any]


def senders(api: Api) -> dict[str, Send]:
    """One way to post a raw body to each receiver, authenticated."""
    rc, adapty = connect(api, "revenuecat"), connect(api, "adapty")
    stripe = connect(api, "stripe", signing_secret=STRIPE_SECRET)

    def stripe_send(body: bytes) -> Any:
        t = str(int(time.time()))
        signature = f"t={t},v1={expected_signature(STRIPE_SECRET, t, body)}"
        return api.client.post(
            f"/v1/integrations/stripe/webhook/{stripe['id']}",
            content=body,
            headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
        )

    return {
        "revenuecat": lambda body: deliver(api, RC_PATH, rc["secret"], body),
        "adapty": lambda body: deliver(api, ADAPTY_PATH, adapty["secret"], body),
        "stripe": stripe_send,
    }


#: Bodies that are no delivery at all, and the error each gets.
NOT_DELIVERIES = [
    (b"", "invalid_json"),
    (b"{not json", "invalid_json"),
    (b"\xff\xfe{}", "invalid_json"),
    (b"[1, 2]", "invalid_request"),
    (b'"event"', "invalid_request"),
    (b"12", "invalid_request"),
]


@pytest.mark.parametrize("provider", ["revenuecat", "adapty", "stripe"])
def test_bodies_that_are_not_a_delivery_are_400(api: Api, provider: str) -> None:
    send = senders(api)[provider]
    for body, error in NOT_DELIVERIES:
        answer = send(body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"] == error, body
    assert stored(api) == []


@pytest.mark.parametrize("provider", ["revenuecat", "adapty", "stripe"])
def test_bodies_over_1_mib_are_413(api: Api, provider: str) -> None:
    body = json.dumps({"event": {"id": "x", "padding": "x" * (1024 * 1024)}}).encode()
    answer = senders(api)[provider](body)
    assert answer.status_code == 413
    assert stored(api) == []


def rc_event(**changes: Any) -> dict[str, Any]:
    payload = fixture("revenuecat", "initial_purchase")
    payload["event"].update(changes)
    return payload


#: RevenueCat payloads with one field wrong, and the reason each is dropped.
RC_HOSTILE: list[tuple[dict[str, Any], str]] = [
    (rc_event(id=None), "missing_field"),
    (rc_event(id=12345), "missing_field"),
    (rc_event(type=["INITIAL_PURCHASE"]), "unknown_type"),
    (rc_event(purchased_at_ms=1710512520), "bad_timestamp"),  # seconds where ms are expected
    (rc_event(purchased_at_ms=10**30), "bad_timestamp"),
    (rc_event(purchased_at_ms="1710512520000x"), "bad_timestamp"),
    (rc_event(purchased_at_ms=-1), "bad_timestamp"),
    (rc_event(price_in_purchased_currency=-9.99), "invalid"),  # negative where positive
    (rc_event(price_in_purchased_currency="9.99"), "invalid"),
    (rc_event(price_in_purchased_currency=True), "invalid"),
    (rc_event(purchased_at_ms="1710512520000"), "bad_timestamp"),
    (rc_event(currency="dollars"), "invalid"),
    (rc_event(product_id={"id": 1}), "invalid"),
    (rc_event(transaction_id=None), "invalid"),
    (rc_event(app_user_id=None, aliases=None), "invalid"),
    (rc_event(app_user_id="x" * 300), "invalid"),
]


def test_revenuecat_fields_of_the_wrong_kind_are_dropped_with_their_reason(api: Api) -> None:
    send = senders(api)["revenuecat"]
    for payload, reason in RC_HOSTILE:
        answer = send(json.dumps(payload).encode())
        assert answer.status_code == 200, answer.text
        assert [r["reason"] for r in answer.json()["reasons"]] == [reason], payload["event"]
    assert stored(api) == []


def test_huge_numbers_and_deep_nesting_never_500(api: Api) -> None:
    send = senders(api)
    deep = b'{"a":' * 5000 + b"{}" + b"}" * 5000
    bodies = [
        b'{"api_version": "1.0", "event": {"id": "a", "type": "RENEWAL", "price": 1e999}}',
        b'{"event": {"id": "a", "purchased_at_ms": 123456789012345678901234567890}}',
        b'{"event":' + deep + b"}",
        deep,
    ]
    for provider, post in send.items():
        for body in bodies:
            assert post(body).status_code in (200, 400), (provider, body[:60])


def test_adjust_query_values_of_the_wrong_kind(api: Api) -> None:
    adjust = connect(api, "adjust", event_tokens={"f0ob4r": "subscription_started"})
    base = fixture("adjust", "event_purchase")
    cases = [
        ({"created_at": "yesterday"}, "bad_timestamp"),
        ({"created_at": "-5"}, "bad_timestamp"),
        ({"created_at": "9" * 40}, "bad_timestamp"),
        ({"revenue": "-999"}, "invalid"),
        ({"revenue": "lots"}, "invalid"),
        ({"currency": "usd$"}, "invalid"),
        ({"activity_kind": ""}, "missing_field"),
    ]
    for change, reason in cases:
        params = {**base, **change, "secret": adjust["secret"]}
        answer = api.client.get(ADJUST_PATH, params=params)
        assert answer.status_code == 200, (change, answer.text)
        assert [r["reason"] for r in answer.json()["reasons"]] == [reason], change
    posted = api.client.post(
        ADJUST_PATH, params={**base, "secret": adjust["secret"]}, content=b"\x00garbage"
    )
    assert posted.status_code == 400
    assert stored(api) == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
#: Keys the mappers read, so arbitrary payloads reach past their first checks.
KNOWN = st.sampled_from(
    [
        "event",
        "id",
        "type",
        "data",
        "object",
        "event_type",
        "event_properties",
        "created",
        "livemode",
        "purchased_at_ms",
        "price_in_purchased_currency",
        "environment",
        "app_user_id",
        "customer_user_id",
        "event_datetime",
        "currency",
        "amount_paid",
        "billing_reason",
    ]
)
SHAPED = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "INITIAL_PURCHASE",
            "RENEWAL",
            "CANCELLATION",
            "TRIAL",
            "SANDBOX",
            "trial_converted",
            "invoice.payment_succeeded",
            "charge.refunded",
            "customer.subscription.created",
            "subscription_cycle",
            "usd",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KNOWN, inner, max_size=6),
    max_leaves=25,
)


@pytest.mark.parametrize("provider", ["revenuecat", "adapty", "stripe"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.one_of(JSON, SHAPED))
def test_arbitrary_json_is_never_a_5xx(api: Api, provider: str, payload: Any) -> None:
    answer = senders(api)[provider](json.dumps(payload).encode())
    assert answer.status_code in (200, 400), answer.text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "activity_kind",
                "created_at",
                "event_token",
                "revenue",
                "revenue_float",
                "currency",
                "country",
                "os_name",
                "network_name",
                "adid",
                "user_id",
            ]
        )
        | st.text(max_size=8),
        st.text(max_size=30) | st.sampled_from(["install", "event", "1710512400", "f0ob4r"]),
        max_size=8,
    )
)
def test_arbitrary_adjust_parameters_are_never_a_5xx(api: Api, params: dict[str, str]) -> None:
    adjust = connect(api, "adjust", event_tokens={"f0ob4r": "subscription_started"})
    answer = api.client.get(ADJUST_PATH, params={**params, "secret": adjust["secret"]})
    assert answer.status_code in (200, 400), answer.text


def test_a_payload_copy_is_untouched_by_mapping(api: Api) -> None:
    """Mappers are pure: the payload they read is not changed (a retry maps the same)."""
    payload = fixture("revenuecat", "initial_purchase")
    kept = copy.deepcopy(payload)
    senders(api)["revenuecat"](json.dumps(payload).encode())
    assert payload == kept
