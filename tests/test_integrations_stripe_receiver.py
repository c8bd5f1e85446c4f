"""The Stripe receiver end to end (the mapper's own tables are test_stripe.py): signed
deliveries through the pipeline, and the mapper's memory kept per integration in the store."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import pytest
from integrations_helpers import connect, shown, stored, written
from stripe_helpers import load

from flokit.integrations.stripe_signature import expected_signature

from conftest import Api
from server import cli

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


NEW = "whsec_Q2d7n1rVxL0pY8kWmC4sT6hJ9bE3fA5u"


def set_secret(api: Api, integration_id: str, body: Any, key: str | None = None) -> Any:
    return api.client.patch(
        f"/v1/integrations/{integration_id}", json=body, headers=api.headers(key)
    )


def test_a_rolled_secret_kept_beside_the_old_accepts_either(
    api: Api, stripe: dict[str, Any]
) -> None:
    answer = set_secret(api, stripe["id"], {"signing_secret": NEW, "keep_previous": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["url"] == stripe["url"]
    old = send(api, stripe, load("subscription_created_trialing_basil.json"))
    new = send(api, stripe, load("invoice_subscription_cycle_basil.json"), secret=NEW)
    assert (old.json()["accepted"], new.json()["accepted"]) == (1, 1), (old.text, new.text)


def test_a_replaced_secret_is_refused_and_stores_nothing(api: Api, stripe: dict[str, Any]) -> None:
    assert set_secret(api, stripe["id"], {"signing_secret": NEW}).status_code == 200
    before = written(api.settings)
    assert send(api, stripe, load("subscription_deleted.json")).status_code == 401
    assert written(api.settings) == before
    assert send(api, stripe, load("subscription_deleted.json"), secret=NEW).status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"signing_secret": "sk_live_abc"}, 400),
        ({"signing_secret": "whsec_"}, 400),
        ({"signing_secret": f"{NEW},whsec_other"}, 400),
        ({"signing_secret": NEW, "colour": "red"}, 400),
        ({"keep_previous": True}, 400),
    ],
)
def test_a_bad_secret_is_400_and_changes_nothing(
    api: Api, stripe: dict[str, Any], body: Any, status: int
) -> None:
    answer = set_secret(api, stripe["id"], body)
    assert answer.status_code == status, answer.text
    assert send(api, stripe, load("subscription_deleted.json")).status_code == 200


def test_only_a_known_stripe_integration_and_a_read_write_key_set_a_secret(
    api: Api, stripe: dict[str, Any]
) -> None:
    assert set_secret(api, "int_nope", {"signing_secret": NEW}).status_code == 404
    adapty = connect(api, "adapty")
    assert set_secret(api, adapty["id"], {"signing_secret": NEW}).status_code == 400
    assert set_secret(api, stripe["id"], {"signing_secret": NEW}, api.ro).status_code == 403
    assert send(api, stripe, load("subscription_deleted.json")).status_code == 200


def test_the_cli_rolls_and_then_replaces_the_secret(api: Api, stripe: dict[str, Any]) -> None:
    db = api.settings.db
    rolled = cli(
        db, "integrations", "set-secret", stripe["id"], "--signing-secret", NEW, "--keep-previous"
    )
    assert rolled == {"id": stripe["id"], "signing_secrets": 2}
    assert send(api, stripe, load("subscription_created_trialing_basil.json")).status_code == 200
    cli(db, "integrations", "set-secret", stripe["id"], "--signing-secret", NEW)
    assert send(api, stripe, load("subscription_deleted.json")).status_code == 401
    assert send(api, stripe, load("subscription_deleted.json"), secret=NEW).status_code == 200
    with pytest.raises(subprocess.CalledProcessError):
        cli(db, "integrations", "set-secret", "int_nope", "--signing-secret", NEW)
