"""Stripe end to end on a real ``flokit serve`` process, per backend: an integration made with
the CLI (two signing secrets, as while one rolls), deliveries as Stripe sends them (pretty
JSON, signed over the raw bytes), read back through the API."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from stripe_helpers import load

from flokit.settings import Settings

from server import Server, cli

NEW_SECRET = "whsec_9f3kQ2vLx8TzA1mN5pR7sW0yB4cE6gH"
OLD_SECRET = "whsec_OLDrolledSecret2mN5pR7sW0yB4cE6gJ"


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any], str]]:
    """A server, a Stripe integration made with the CLI, and a key to read events back."""
    workspace = cli(settings.db, "workspaces", "create", "stripe-e2e")
    integration = cli(
        settings.db,
        "integrations",
        "create",
        "stripe",
        "--workspace",
        workspace["workspace_id"],
        "--signing-secret",
        f"{NEW_SECRET},{OLD_SECRET}",
    )
    server = Server(settings.db, log=tmp_path / "server.log")
    yield server, integration, workspace["api_key"]
    server.stop()


def signature(body: bytes, secret: str) -> str:
    """``Stripe-Signature`` as Stripe computes it (hmac here, not the code under test)."""
    t = int(time.time())
    v1 = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


def post(server: Server, integration: dict[str, Any], body: bytes, header: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/integrations/stripe/webhook/{integration['id']}",
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header},
        timeout=30,
    )


def test_signed_deliveries_through_a_real_server(
    served: tuple[Server, dict[str, Any], str],
) -> None:
    server, integration, key = served
    assert integration["url"].endswith(f"/v1/integrations/stripe/webhook/{integration['id']}")
    # Stripe sends indented JSON; the signature covers those exact bytes, never re-encoded ones.
    body = json.dumps(load("invoice_subscription_create_basil.json"), indent=2).encode()
    first = post(server, integration, body, signature(body, OLD_SECRET))
    assert first.status_code == 200, first.text
    assert (first.json()["accepted"], first.json()["duplicates"]) == (1, 0)
    again = post(server, integration, body, signature(body, NEW_SECRET))  # after the roll
    assert (again.json()["accepted"], again.json()["duplicates"]) == (1, 1)
    compact = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    assert post(server, integration, compact, signature(body, NEW_SECRET)).status_code == 401
    events = httpx.get(
        f"{server.url}/v1/events", headers={"Authorization": f"Bearer {key}"}, timeout=30
    ).json()["events"]
    assert [(e["event"], e["user_id"], e["properties"]["revenue"]) for e in events] == [
        ("subscription_started", "usr_abc123", 9.99)
    ]
