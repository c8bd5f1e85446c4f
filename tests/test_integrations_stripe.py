"""Stripe through the real receiver route (integrations.md §3), on every backend: signed
deliveries of each table row in both payload shapes, signature failures that store nothing,
redelivery, refunds' cumulative amounts remembered by the store, rolled secrets, test mode and
bodies that are not Stripe events. (test_integrations_stripe_receiver.py: memory per
integration; test_stripe.py: the mapper's table on its own.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from integrations_helpers import connect, shown, stored, written
from stripe_helpers import edit, load

from conftest import Api, count_events

SECRET = "whsec_9f3kQ2vLx8TzA1mN5pR7sW0yB4cE6gH"
OLD_SECRET = "whsec_OLDrolledSecret2mN5pR7sW0yB4cE6gJ"
USER = "usr_abc123"


def sign(body: bytes, secret: str = SECRET, at: int | None = None) -> str:
    """A Stripe-Signature header as Stripe makes it (hmac here, not the code under test)."""
    t = int(time.time()) if at is None else at
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


def deliver(api: Api, integration: dict[str, Any], payload: Any, header: str | None = None) -> Any:
    """POST ``payload`` (bytes as they are), signed with the integration's secret unless a
    ``Stripe-Signature`` value is given ("": none at all)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    signature = sign(body) if header is None else header
    if signature:
        headers["Stripe-Signature"] = signature
    path = f"/v1/integrations/stripe/webhook/{integration['id']}"
    return api.client.post(path, content=body, headers=headers)


@pytest.fixture
def stripe(api: Api) -> dict[str, Any]:
    return connect(api, "stripe", signing_secret=SECRET)


def accepted(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert (body["accepted"], body["dropped"], body["duplicates"]) == (1, 0, 0), body
    return body


@pytest.mark.parametrize("shape", ["2024", "basil"])
def test_a_trial_that_converts_then_renews_and_is_refunded(
    api: Api, stripe: dict[str, Any], shape: str
) -> None:
    for name in (
        f"subscription_created_trialing_{shape}",
        f"invoice_subscription_cycle_{shape}",
        f"invoice_renewal_{shape}",
        f"charge_refunded_{shape}",
        "subscription_updated_cancel_at_period_end",
    ):
        accepted(deliver(api, stripe, load(f"{name}.json")))
    events = stored(api)
    assert [(e["event"], e["user_id"]) for e in events] == [
        ("trial_started", USER),
        ("subscription_started", USER),
        ("renewal_completed", USER),
        ("refund_issued", USER),
        ("subscription_cancelled", USER),
    ]
    assert events[1]["properties"]["trial_converted"] is True
    assert events[2]["properties"]["revenue"] == 9.99
    assert events[0]["insert_id"] == "stripe:evt_1QfK2MEaZvKYlo2Cs7Gd1uTr"
    dropped = deliver(api, stripe, load("subscription_deleted.json")).json()
    assert dropped["reasons"][0]["reason"] == "already_cancelled"


def test_partial_refunds_are_two_events_and_a_redelivery_is_a_duplicate(
    api: Api, stripe: dict[str, Any]
) -> None:
    doc = load("charge_refunded_basil.json")
    first = edit(doc, id="evt_refund_1", data__object__amount_refunded=300)
    second = edit(doc, id="evt_refund_2", data__object__amount_refunded=999)
    # Without previous_attributes, only the store's memory of the first knows 3.00 was counted.
    second["data"]["previous_attributes"] = {}
    accepted(deliver(api, stripe, first))
    accepted(deliver(api, stripe, second))
    again = deliver(api, stripe, second).json()
    assert (again["accepted"], again["duplicates"]) == (1, 1)
    assert [e["properties"]["revenue"] for e in stored(api)] == [3.0, 6.99]


def test_a_redelivery_is_a_duplicate_stored_once(api: Api, stripe: dict[str, Any]) -> None:
    payload = load("invoice_subscription_create_basil.json")
    first = accepted(deliver(api, stripe, payload))
    again = deliver(api, stripe, payload).json()
    assert (again["accepted"], again["duplicates"], again["event_ids"]) == (
        1,
        1,
        first["event_ids"],
    )
    assert count_events(api.settings) == 1


def _bad_header(case: str, body: bytes) -> str:
    return {
        "missing": "",
        "blank": " ",
        "malformed": "t=abc,v1=00",
        "another secret": sign(body, "whsec_someone_else"),
        "stale": sign(body, at=int(time.time()) - 301),
        "body changed": sign(body + b" "),
    }[case]


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("missing", "Missing Stripe-Signature"),
        ("blank", "Missing Stripe-Signature"),
        ("malformed", "Malformed Stripe-Signature"),
        ("another secret", "No Stripe-Signature v1 matches"),
        ("stale", "more than 300 s from now"),
        ("body changed", "No Stripe-Signature v1 matches"),
    ],
)
def test_signature_failures_are_401_naming_the_problem_and_store_nothing(
    api: Api, stripe: dict[str, Any], case: str, said: str
) -> None:
    body = json.dumps(load("invoice_subscription_create_basil.json")).encode()
    before = written(api.settings)
    answer = deliver(api, stripe, body, _bad_header(case, body))
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "unauthorized"
    assert said in answer.json()["message"]
    assert written(api.settings) == before


def test_rolled_secrets_both_pass(api: Api) -> None:
    rolling = connect(api, "stripe", signing_secret=f"{SECRET},{OLD_SECRET}")
    payload = load("invoice_subscription_create_basil.json")
    body = json.dumps(payload).encode()
    accepted(deliver(api, rolling, body, header=sign(body, OLD_SECRET)))
    again = deliver(api, rolling, body, header=sign(body, SECRET)).json()
    assert again["duplicates"] == 1


def test_test_mode_is_dropped_and_counted(api: Api, stripe: dict[str, Any]) -> None:
    payload = edit(load("invoice_subscription_create_basil.json"), livemode=False)
    answer = deliver(api, stripe, payload).json()
    assert (answer["accepted"], answer["dropped"]) == (0, 1)
    assert shown(api, stripe["id"])["dropped"] == {"sandbox": 1}
    assert stored(api) == []


@pytest.mark.parametrize("body", [b"not json", b"[]", b'"evt"', b"{}"])
def test_bodies_that_are_not_stripe_events_are_400(
    api: Api, stripe: dict[str, Any], body: bytes
) -> None:
    answer = deliver(api, stripe, body)
    assert answer.status_code == 400, answer.text
    assert count_events(api.settings) == 0


def test_a_hostile_field_is_a_counted_drop_that_names_it(api: Api, stripe: dict[str, Any]) -> None:
    payload = edit(load("invoice_renewal_basil.json"), data__object__amount_paid=-999)
    answer = deliver(api, stripe, payload)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["dropped"]) == (0, 1)
    assert body["reasons"][0]["reason"] == "invalid"
    assert "amount_paid = -999" in body["reasons"][0]["detail"]
    described = shown(api, stripe["id"])
    assert described["dropped"] == {"invalid": 1}
    assert "amount_paid = -999" in described["errors"][0]["message"]
    assert stored(api) == []
