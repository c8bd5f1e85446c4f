"""The PostgreSQL backend: one database shared by every node of a deployment.

``PostgresStore`` implements ``contract.Store``; ``PgLimiter`` and ``PgInFlight`` keep rate-limit
buckets and in-flight markers in the same database, through the store's connections.
"""

from __future__ import annotations

from flokit.store.postgres.limits import PgInFlight, PgLimiter
from flokit.store.postgres.schema import check_schema, latest_version, migrate
from flokit.store.postgres.store import PostgresStore

__all__ = [
    "PgInFlight",
    "PgLimiter",
    "PostgresStore",
    "check_schema",
    "latest_version",
    "migrate",
]
