"""The Stripe receiver end to end (the mapper's own tables are test_stripe.py): signed
deliveries through the pipeline, and the mapper's memory kept per integration in the store."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from integrations_helpers import connect, shown, stored, written
from stripe_helpers import load

from flokit.integrations.stripe_signature import expected_signature

from conftest import Api

SECRET = "whsec_5Jb0y0AqS3rNfS1o7XmV7bq6y2oVvYQd"


def send(api: Api, integration: dict[str, Any], doc: dict[str, Any], secret: str = SECRET) -> Any:
    body = json.dumps(doc).encode()
    t = str(int(time.time()))
    header = f"t={t},v1={expected_signature(secret, t, body)}"
    return api.client.post(
        f"/v1/integrations/stripe/webhook/{integration['id']}",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
    )


@pytest.fixture
def stripe(api: Api) -> dict[str, Any]:
    return connect(api, "stripe", signing_secret=SECRET)


def test_memory_carries_a_trial_into_its_conversion(api: Api, stripe: dict[str, Any]) -> None:
    trial = send(api, stripe, load("subscription_created_trialing_basil.json")).json()
    paid = send(api, stripe, load("invoice_subscription_cycle_basil.json")).json()
    assert (trial["accepted"], paid["accepted"]) == (1, 1), (trial, paid)
    events = {e["event"]: e for e in stored(api)}
    assert events["subscription_started"]["properties"]["trial_converted"] is True


def test_one_cancellation_per_subscription_per_integration(
    api: Api, stripe: dict[str, Any]
) -> None:
    first = send(api, stripe, load("subscription_updated_cancel_at_period_end.json")).json()
    second = send(api, stripe, load("subscription_deleted.json")).json()
    assert (first["accepted"], second["accepted"]) == (1, 0)
    assert second["reasons"][0]["reason"] == "already_cancelled"
    assert shown(api, stripe["id"])["dropped"] == {"already_cancelled": 1}
    other = connect(api, "stripe", signing_secret=SECRET)  # its own memory: not cancelled yet
    assert send(api, other, load("subscription_deleted.json")).json()["accepted"] == 1


@pytest.mark.parametrize("secret", ["whsec_other", ""])
def test_a_bad_signature_is_401_and_stores_nothing(
    api: Api, stripe: dict[str, Any], secret: str
) -> None:
    before = written(api.settings)
    answer = send(api, stripe, load("subscription_deleted.json"), secret=secret)
    assert answer.status_code == 401
    assert written(api.settings) == before


def test_an_unknown_integration_id_is_401(api: Api) -> None:
    assert send(api, {"id": "int_nope"}, load("subscription_deleted.json")).status_code == 401
