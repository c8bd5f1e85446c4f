"""The backends the suites run on: SQLite files, and a PostgreSQL database and Redis key prefix
made for this test run (``FLOKIT_TEST_POSTGRES``, ``FLOKIT_TEST_REDIS`` point elsewhere).

Where PostgreSQL or Redis cannot be reached, their tests are skipped with the reason, except
under ``CI=true``, where a missing service fails the run instead of hiding its tests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "FLOKIT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("FLOKIT_TEST_REDIS", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", "postgresql"]
#: Where rate limits and in-flight keys matter, PostgreSQL runs with and without Redis.
ALL_BACKENDS = [*BACKENDS, "postgresql+redis"]


def unavailable(service: str, reason: object) -> None:
    """Skip (or, under CI, fail) a test that needs a service this machine does not offer."""
    message = (
        f"{service} not reachable ({reason}); set FLOKIT_TEST_{service.upper()} to point at one"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty database for this run (its URL), dropped at the end."""
    import psycopg

    name = f"flokit_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        unavailable("postgres", str(exc).strip().splitlines()[0])
        raise  # unreachable: skip and fail raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(POSTGRES_ADMIN_URL, name)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_prefix() -> Iterator[str]:
    """A key prefix of this run's own on the test Redis; its keys are deleted at the end."""
    import redis

    prefix = f"flokit-test:{os.getpid()}:{secrets.token_hex(4)}:"
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable("redis", exc)
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
