"""``contract.IntegrationStore`` on SQLite: reads in threads, writes in the group commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from flokit.integrations.outcome import ProviderType
from flokit.integrations.records import DeliveryError, Integration, IntegrationStats
from flokit.store import integration_rows as rows
from flokit.store.readmodel_sql import SQLITE

T = TypeVar("T")


class SqliteIntegrations:
    """Mixed into ``SqliteStore``, which supplies ``write`` and ``_read``."""

    async def write(self, run: Callable[[sqlite3.Connection], T], rows: int = 1) -> T:
        raise NotImplementedError

    async def _read(self, run: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def create_integration(self, integration: Integration) -> None:
        await self.write(lambda conn: rows.insert(conn, SQLITE, integration))

    async def find_integration(self, kind: ProviderType, secret_hash: str) -> Integration | None:
        return await self._read(lambda conn: rows.find_by_secret(conn, SQLITE, kind, secret_hash))

    async def get_integration(self, integration_id: str) -> Integration | None:
        return await self._read(lambda conn: rows.get(conn, SQLITE, integration_id))

    async def list_integrations(self, workspace_id: int) -> list[Integration]:
        return await self._read(lambda conn: rows.list_for(conn, SQLITE, workspace_id))

    async def delete_integration(self, integration_id: str) -> bool:
        return await self.write(lambda conn: rows.delete(conn, SQLITE, integration_id))

    async def set_signing_secret(self, integration_id: str, signing_secret: str) -> None:
        await self.write(
            lambda conn: rows.set_signing_secret(conn, SQLITE, integration_id, signing_secret)
        )

    async def integration_stats(self, integration_id: str, now_us: int) -> IntegrationStats:
        return await self._read(lambda conn: rows.stats(conn, SQLITE, integration_id, now_us))

    async def recall(self, integration_id: str, key: str) -> str | None:
        return await self._read(lambda conn: rows.recall(conn, SQLITE, integration_id, key))

    async def record_delivery_error(self, integration_id: str, error: DeliveryError) -> None:
        await self.write(lambda conn: rows.add_error(conn, SQLITE, integration_id, error, True))
