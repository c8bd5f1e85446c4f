"""Shared by the integration tests: fixtures from disk, integrations made through the API,
deliveries, and what the store holds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from flokit.settings import Settings

from conftest import Api

FIXTURES = Path(__file__).parent / "fixtures" / "integrations"
RC_PATH = "/v1/integrations/revenuecat/webhook"
ADAPTY_PATH = "/v1/integrations/adapty/webhook"
ADJUST_PATH = "/ingest/adjust"


def fixture(provider: str, name: str) -> dict[str, Any]:
    """A provider payload as the provider documents it."""
    loaded: dict[str, Any] = json.loads((FIXTURES / provider / f"{name}.json").read_text())
    return loaded


def connect(api: Api, kind: str, **options: Any) -> dict[str, Any]:
    """A new integration of the test's workspace (its id, secret, url…)."""
    response = api.client.post(
        "/v1/integrations", json={"type": kind, **options}, headers=api.headers()
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def deliver(api: Api, path: str, secret: str | None, body: Any, **headers: str) -> Any:
    """POST a JSON delivery (``body`` bytes are sent as they are)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **headers}
    if secret is not None:
        sent["Authorization"] = secret
    return api.client.post(path, content=content, headers=sent)


def stored(api: Api, **filters: str) -> list[dict[str, Any]]:
    """The workspace's events through the read API, oldest first."""
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    response = api.client.get(f"/v1/events?limit=1000&{query}", headers=api.headers())
    events: list[dict[str, Any]] = response.json()["events"]
    return events[::-1]


def shown(api: Api, integration_id: str) -> dict[str, Any]:
    response = api.client.get(f"/v1/integrations/{integration_id}", headers=api.headers())
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


WRITTEN_TABLES = (
    "events",
    "dedup_keys",
    "integrations",
    "integration_hours",
    "integration_drops",
    "integration_errors",
    "integration_memory",
)


def written(settings: Settings) -> list[tuple[str, list[Any]]]:
    """Every row a delivery may write (events, duplicate keys, integration records)."""
    if settings.postgres_url is None:
        with sqlite3.connect(settings.sqlite_path) as conn:
            return [
                (table, sorted(map(repr, conn.execute(f"SELECT * FROM {table}"))))
                for table in WRITTEN_TABLES
            ]
    import psycopg

    with psycopg.connect(settings.postgres_url) as pg:
        return [
            (table, sorted(map(repr, pg.execute(f"SELECT * FROM {table}").fetchall())))
            for table in WRITTEN_TABLES
        ]
