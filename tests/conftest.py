"""Shared fixtures: a real SQLite file per test, the real app in-process, real keys."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from flokit.app import build_app
from flokit.model import KeyKind
from flokit.settings import Settings
from flokit.store import Store, open_store

SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "spec"


def seed_batch() -> dict[str, Any]:
    """The three-event example of batch-events.md, read from the spec itself."""
    text = (SPEC / "batch-events.md").read_text()
    match = re.search(r"-d '(.*?)'\n", text, re.S)
    assert match, "the curl example of batch-events.md was not found"
    body: dict[str, Any] = json.loads(match.group(1))
    return body


@dataclass
class Api:
    """The app under test with a workspace and its keys."""

    client: TestClient
    store: Store
    workspace_id: str
    rw: str
    ro: str

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {key or self.rw}",
            "Content-Type": "application/json",
            **extra,
        }

    def batch(self, events: list[Any], key: str | None = None) -> Any:
        return self.client.post(
            "/v1/batch/events", json={"events": events}, headers=self.headers(key)
        )

    def post(self, path: str, body: bytes, **headers: str) -> Any:
        return self.client.post(path, content=body, headers=self.headers(**headers))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "flokit.db"), log_requests=False)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.close()


@pytest.fixture
def api(settings: Settings, store: Store) -> Iterator[Api]:
    workspace, issued = store.create_workspace("test")
    read_only = store.create_key(workspace, KeyKind.READ_ONLY)
    with TestClient(build_app(settings, store=store)) as client:
        yield Api(client, store, workspace.public_id, issued.secret, read_only.secret)


def event(name: str = "paywall_viewed", **overrides: Any) -> dict[str, Any]:
    """A valid event of the taxonomy, with fields replaced or (given None) removed."""
    base: dict[str, Any] = {
        "event": name,
        "user_id": "usr_1",
        "timestamp": "2024-03-15T14:20:00Z",
        "properties": dict(PROPERTIES.get(name, {})),
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


PROPERTIES: dict[str, dict[str, Any]] = {
    "paywall_viewed": {"paywall_id": "pw_1"},
    "trial_started": {"plan_id": "plan_1"},
    "subscription_started": {
        "plan_id": "plan_1",
        "revenue": 49.99,
        "currency": "USD",
        "transaction_id": "txn_1",
    },
    "refund_issued": {"revenue": 49.99, "currency": "USD", "transaction_id": "txn_1"},
    "install_attributed": {"campaign_id": "c1", "channel": "meta"},
}
