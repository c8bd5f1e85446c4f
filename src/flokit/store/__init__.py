"""Storage behind one typed contract (``contract.py``): the service sees the protocols, never a
driver. The backend is chosen by the settings: a SQLite file (the embedded default) or a
PostgreSQL URL, with Redis, if named, for rate-limit buckets and in-flight markers."""

from __future__ import annotations

from flokit.settings import Settings
from flokit.store.contract import InFlightMarkers, Limiter, Store

__all__ = ["Store", "open_in_flight", "open_limiter", "open_store"]


def open_store(settings: Settings) -> Store:
    """The backend ``settings.db`` names; pending PostgreSQL migrations are applied first."""
    if settings.postgres_url is not None:
        from flokit.store.postgres import PostgresStore

        return PostgresStore(settings.postgres_url, busy_timeout_ms=settings.busy_timeout_ms)
    from flokit.store.sqlite import SqliteStore

    return SqliteStore(
        settings.sqlite_path,
        busy_timeout_ms=settings.busy_timeout_ms,
        commit_max_requests=settings.commit_max_requests,
        commit_max_rows=settings.commit_max_rows,
    )


def open_limiter(settings: Settings, store: Store) -> Limiter:
    """The rate limiter every process and node shares: Redis if named, else the database's
    own (a table in PostgreSQL, a small file beside the SQLite file)."""
    from flokit.pipeline.limits import Unlimited

    if not settings.rate_limits:
        return Unlimited()
    if settings.redis_url is not None:
        from flokit.store.redis import RedisLimiter, connect_redis

        return RedisLimiter(connect_redis(settings.redis_url), settings.redis_prefix)
    if settings.postgres_url is not None:
        from flokit.store.postgres import PostgresStore
        from flokit.store.postgres.limits import PgLimiter

        assert isinstance(store, PostgresStore)
        return PgLimiter(store)
    from flokit.store.sqlite_limiter import SqliteLimiter

    path = settings.sqlite_path
    return SqliteLimiter(path.with_name(path.name + ".limits"))


def open_in_flight(settings: Settings, store: Store) -> InFlightMarkers:
    """Where in-flight Idempotency-Keys are marked: shared by every node (Redis, else
    PostgreSQL), or this process's memory on the embedded store."""
    ttl_ms = IN_FLIGHT_TTL_MS
    if settings.redis_url is not None:
        from flokit.store.redis import RedisInFlight, connect_redis

        return RedisInFlight(connect_redis(settings.redis_url), settings.redis_prefix, ttl_ms)
    if settings.postgres_url is not None:
        from flokit.store.postgres import PostgresStore
        from flokit.store.postgres.limits import PgInFlight

        assert isinstance(store, PostgresStore)
        return PgInFlight(store, ttl_ms)
    from flokit.pipeline.idempotency import LocalInFlight

    return LocalInFlight()


#: How long a node's in-flight mark outlives it if it dies mid-request: repeats get 409 until
#: then. Longer than any request may run (the busy timeout bounds the store's wait).
IN_FLIGHT_TTL_MS = 30_000
