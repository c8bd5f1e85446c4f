"""``contract.IntegrationStore`` for every backend, over ``integration_rows`` (one SQL text for
both dialects): the store it is mixed into says its dialect, how it reads and how it writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flokit.integrations.outcome import ProviderType
from flokit.integrations.records import DeliveryError, Integration, IntegrationStats
from flokit.store import integration_rows as rows
from flokit.store.readmodel_sql import Dialect

T = TypeVar("T")


class IntegrationStoreMixin:
    """Mixed into ``SqliteStore`` (writes in its group commit, reads in threads) and
    ``PostgresStore`` (each call one transaction in its threads)."""

    dialect: Dialect

    async def _write_rows(self, work: Callable[[Any], T]) -> T:
        raise NotImplementedError

    async def _read(self, work: Callable[[Any], T]) -> T:
        raise NotImplementedError

    async def create_integration(self, integration: Integration) -> None:
        await self._write_rows(lambda conn: rows.insert(conn, self.dialect, integration))

    async def find_integration(self, kind: ProviderType, secret_hash: str) -> Integration | None:
        return await self._read(
            lambda conn: rows.find_by_secret(conn, self.dialect, kind, secret_hash)
        )

    async def get_integration(self, integration_id: str) -> Integration | None:
        return await self._read(lambda conn: rows.get(conn, self.dialect, integration_id))

    async def list_integrations(self, workspace_id: int) -> list[Integration]:
        return await self._read(lambda conn: rows.list_for(conn, self.dialect, workspace_id))

    async def delete_integration(self, integration_id: str) -> bool:
        return await self._write_rows(lambda conn: rows.delete(conn, self.dialect, integration_id))

    async def set_signing_secret(self, integration_id: str, signing_secret: str) -> None:
        await self._write_rows(
            lambda conn: rows.set_signing_secret(conn, self.dialect, integration_id, signing_secret)
        )

    async def integration_stats(self, integration_id: str, now_us: int) -> IntegrationStats:
        return await self._read(lambda conn: rows.stats(conn, self.dialect, integration_id, now_us))

    async def recall(self, integration_id: str, key: str) -> str | None:
        return await self._read(lambda conn: rows.recall(conn, self.dialect, integration_id, key))

    async def record_delivery_error(self, integration_id: str, error: DeliveryError) -> None:
        await self._write_rows(
            lambda conn: rows.add_error(conn, self.dialect, integration_id, error, True)
        )
