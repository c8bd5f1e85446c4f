"""RevenueCat and Adjust end to end on a real ``flokit serve`` process, per backend: the
integrations made with the CLI, deliveries over HTTP as the providers send them, read back
through the API and counted by ``flokit integrations show``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from integrations_helpers import ADJUST_PATH, RC_PATH, fixture

from flokit.settings import Settings

from server import Server, cli


@pytest.fixture
def served(settings: Settings, tmp_path: Path) -> Iterator[tuple[Server, dict[str, Any]]]:
    workspace = cli(settings.db, "workspaces", "create", "integrations-e2e")
    server = Server(settings.db, log=tmp_path / "server.log")
    yield server, workspace
    server.stop()


def test_deliveries_through_a_real_server(
    served: tuple[Server, dict[str, Any]], settings: Settings
) -> None:
    server, workspace = served
    ws = workspace["workspace_id"]
    rc = cli(settings.db, "integrations", "create", "revenuecat", "--workspace", ws)
    adjust = cli(settings.db, "integrations", "create", "adjust", "--workspace", ws)
    payload = fixture("revenuecat", "renewal_trial_conversion")
    headers = {"Authorization": f"Bearer {rc['secret']}", "Content-Type": "application/json"}
    first = httpx.post(f"{server.url}{RC_PATH}", json=payload, headers=headers, timeout=30)
    again = httpx.post(f"{server.url}{RC_PATH}", json=payload, headers=headers, timeout=30)
    assert (first.json()["accepted"], again.json()["duplicates"]) == (1, 1)
    params = {**fixture("adjust", "install"), "secret": adjust["secret"]}
    assert httpx.get(f"{server.url}{ADJUST_PATH}", params=params, timeout=30).status_code == 200
    read = httpx.get(
        f"{server.url}/v1/events",
        headers={"Authorization": f"Bearer {workspace['api_key']}"},
        timeout=30,
    ).json()["events"]
    assert sorted(e["event"] for e in read) == ["install_attributed", "subscription_started"]
    shown = cli(settings.db, "integrations", "show", rc["id"])
    assert shown["sync_stats"]["events_total"] == 1 and shown["status"] == "connected"
