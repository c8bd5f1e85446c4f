"""Integrations as data: the CLI and the API create, list, show and delete them; what they
show (FloKit's documented fields, drops by reason, the last delivery errors)."""

from __future__ import annotations

from typing import Any

import pytest
from integrations_helpers import RC_PATH, connect, deliver, fixture, shown

from conftest import Api
from server import cli

DOCUMENTED = {"id", "type", "status", "last_synced_at", "error_message", "sync_stats"}


def test_the_cli_creates_lists_shows_and_deletes(api: Api) -> None:
    db, ws = api.settings.db, api.workspace_id
    created = cli(db, "integrations", "create", "revenuecat", "--workspace", ws)
    assert created["secret"].startswith("fkwh_")
    assert created["url"].endswith("/v1/integrations/revenuecat/webhook")
    payload = fixture("revenuecat", "initial_purchase")
    assert deliver(api, RC_PATH, created["secret"], payload).json()["accepted"] == 1
    listed = cli(db, "integrations", "list", "--workspace", ws)["integrations"]
    assert [(i["id"], i["sync_stats"]["events_total"]) for i in listed] == [(created["id"], 1)]
    assert "secret" not in cli(db, "integrations", "show", created["id"])
    cli(db, "integrations", "delete", created["id"], json_output=False)
    assert deliver(api, RC_PATH, created["secret"], payload).status_code == 401


def test_the_cli_prints_the_adjust_callback_url_with_its_secret(api: Api) -> None:
    created = cli(
        api.settings.db,
        "integrations",
        "create",
        "adjust",
        "--workspace",
        api.workspace_id,
        "--event-token",
        "abc123=paywall_viewed",
        "--url",
        "https://flokit.example.com",
    )
    assert created["url"].startswith(
        f"https://flokit.example.com/ingest/adjust?secret={created['secret']}&"
    )
    assert "created_at={created_at}" in created["url"]
    assert shown(api, created["id"])["settings"]["event_tokens"] == {"abc123": "paywall_viewed"}


def test_the_api_shows_documented_fields_drops_and_errors(api: Api) -> None:
    rc = connect(api, "revenuecat")
    described = shown(api, rc["id"])
    assert described.keys() >= DOCUMENTED
    assert described["status"] == "connected" and described["last_synced_at"] is None
    deliver(api, RC_PATH, rc["secret"], fixture("revenuecat", "test"))
    assert deliver(api, RC_PATH, rc["secret"], b"{not json").status_code == 400
    described = shown(api, rc["id"])
    assert described["status"] == "error"
    assert "JSON" in described["error_message"]
    assert described["errors"][0]["status"] == 400
    assert described["dropped"] == {"test_event": 1}
    deliver(api, RC_PATH, rc["secret"], fixture("revenuecat", "renewal"))
    described = shown(api, rc["id"])
    assert (described["status"], described["error_message"]) == ("connected", None)
    assert described["last_synced_at"] is not None
    listed = api.client.get("/v1/integrations", headers=api.headers(api.ro)).json()
    assert [i["id"] for i in listed["integrations"]] == [rc["id"]]
    metrics = api.client.get("/metrics").text
    counted = 'flokit_integration_drops_total{provider="revenuecat",reason="test_event"} 1.0'
    assert counted in metrics


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"type": "stripe"}, 400),  # Stripe needs its signing secret
        ({"type": "revenuecat", "signing_secret": "whsec_x"}, 400),
        ({"type": "paypal"}, 400),
        ({"type": "adapty", "colour": "red"}, 400),
        ({"type": "adapty", "keep_sandbox": "yes"}, 400),
        ([], 400),
    ],
)
def test_creating_refuses_what_cannot_be_made(api: Api, body: Any, status: int) -> None:
    answer = api.client.post("/v1/integrations", json=body, headers=api.headers())
    assert answer.status_code == status, answer.text
    assert api.client.get("/v1/integrations", headers=api.headers()).json()["integrations"] == []


def test_creating_needs_a_read_write_key(api: Api) -> None:
    answer = api.client.post(
        "/v1/integrations", json={"type": "adapty"}, headers=api.headers(api.ro)
    )
    assert answer.status_code == 403


def test_another_workspaces_integration_is_not_found(api: Api) -> None:
    _, issued = api.store.create_workspace("other")
    theirs = api.client.post(
        "/v1/integrations", json={"type": "adapty"}, headers=api.headers(issued.secret)
    ).json()
    assert (
        api.client.get(f"/v1/integrations/{theirs['id']}", headers=api.headers()).status_code == 404
    )
