"""``contract.IntegrationStore`` on PostgreSQL: each call one transaction in the store's threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flokit.integrations.outcome import ProviderType
from flokit.integrations.records import DeliveryError, Integration, IntegrationStats
from flokit.store import integration_rows as rows
from flokit.store.postgres.connections import Connection
from flokit.store.readmodel_sql import POSTGRES

T = TypeVar("T")


class PgIntegrations:
    """Mixed into ``PostgresStore``, which supplies ``run`` and ``_read``."""

    async def run(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def _read(self, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    async def create_integration(self, integration: Integration) -> None:
        await self.run(lambda conn: rows.insert(conn, POSTGRES, integration))

    async def find_integration(self, kind: ProviderType, secret_hash: str) -> Integration | None:
        return await self._read(lambda conn: rows.find_by_secret(conn, POSTGRES, kind, secret_hash))

    async def get_integration(self, integration_id: str) -> Integration | None:
        return await self._read(lambda conn: rows.get(conn, POSTGRES, integration_id))

    async def list_integrations(self, workspace_id: int) -> list[Integration]:
        return await self._read(lambda conn: rows.list_for(conn, POSTGRES, workspace_id))

    async def delete_integration(self, integration_id: str) -> bool:
        return await self.run(lambda conn: rows.delete(conn, POSTGRES, integration_id))

    async def set_signing_secret(self, integration_id: str, signing_secret: str) -> None:
        await self.run(
            lambda conn: rows.set_signing_secret(conn, POSTGRES, integration_id, signing_secret)
        )

    async def integration_stats(self, integration_id: str, now_us: int) -> IntegrationStats:
        return await self.run(lambda conn: rows.stats(conn, POSTGRES, integration_id, now_us))

    async def recall(self, integration_id: str, key: str) -> str | None:
        return await self._read(lambda conn: rows.recall(conn, POSTGRES, integration_id, key))

    async def record_delivery_error(self, integration_id: str, error: DeliveryError) -> None:
        await self.run(lambda conn: rows.add_error(conn, POSTGRES, integration_id, error, True))
