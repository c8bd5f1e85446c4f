"""Connections to PostgreSQL: the one-off ones (start-up, migrations), the pool that serves, and
what a lost server means to a caller (``BackendUnreachable`` at start, ``Unavailable`` after).
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolTimeout

from flokit.errors import Unavailable
from flokit.store.contract import BackendUnreachable
from flokit.store.diskfull import storage_full

log = logging.getLogger("flokit.store")

Connection = psycopg.Connection[TupleRow]
Pool = ConnectionPool[Connection]

#: How long opening one connection may take before the server counts as unreachable.
CONNECT_TIMEOUT_S = 3
#: How long the pool keeps retrying a lost connection in the background before it gives that
#: slot up; the next request that needs one starts afresh. Short, so that after an outage the
#: pool is not asleep in a long back-off when the server is back.
RECONNECT_S = 5.0
#: Every connection: autocommit (a write opens its own transaction, a read is one statement and
#: needs no BEGIN/COMMIT round trips), UTF-8 (properties are kept byte for byte), named.
_KWARGS: dict[str, Any] = {
    "autocommit": True,
    "connect_timeout": CONNECT_TIMEOUT_S,
    "client_encoding": "UTF8",
    "application_name": "flokit",
}


def where(url: str) -> str:
    """``host:port/database`` of ``url``, for messages (never its password)."""
    try:
        info = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "an invalid URL"
    host = info.get("host") or info.get("hostaddr") or "localhost"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user') or ''}"


def first_line(exc: BaseException) -> str:
    """The driver's message, first line only: messages here are one line."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def connect(url: str) -> Connection:
    """One connection, or ``BackendUnreachable`` within ``CONNECT_TIMEOUT_S`` (per address)."""
    try:
        return psycopg.connect(url, **_KWARGS)
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        raise BackendUnreachable(
            f"PostgreSQL at {where(url)} is unreachable: {first_line(exc)}"
        ) from exc


def open_pool(url: str, size: int, busy_timeout_ms: int) -> Pool:
    """The serving pool, open and with a first connection ready. Every connection is checked
    on checkout, so those a server restart broke are dropped and replaced, never handed out."""

    def configure(conn: Connection) -> None:
        # Nothing waits forever; a 200 is sent only after the commit is on disk.
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false),"
            " set_config('synchronous_commit', 'on', false)",
            (str(busy_timeout_ms), str(busy_timeout_ms)),
        )

    pool: Pool = ConnectionPool(
        url,
        min_size=1,
        max_size=size,
        kwargs=_KWARGS,
        configure=configure,
        check=ConnectionPool.check_connection,
        timeout=busy_timeout_ms / 1000,
        reconnect_timeout=RECONNECT_S,
        name="flokit-postgresql",
        open=False,
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT_S * 2)
    except PoolTimeout as exc:
        pool.close(timeout=0)
        raise BackendUnreachable(
            f"PostgreSQL at {where(url)} is unreachable: {first_line(exc)}"
        ) from exc
    return pool


def unavailable(exc: psycopg.OperationalError, committing: bool) -> Unavailable:
    """The 503 a lost or overloaded server means to a request (with the driver's reason)."""
    log.warning("PostgreSQL: %s: %s", type(exc).__name__, first_line(exc))
    if isinstance(exc, errors.DiskFull):  # SQLSTATE 53100: rolled back, at commit too
        return storage_full("PostgreSQL cannot store anything", first_line(exc))
    if isinstance(exc, PoolTimeout):
        reason = f"PostgreSQL is unreachable or overloaded ({first_line(exc)})"
    elif isinstance(exc, errors.QueryCanceled | errors.LockNotAvailable):
        reason = f"PostgreSQL is busy ({first_line(exc)})"
    elif committing:
        return Unavailable(
            f"PostgreSQL was lost while committing ({first_line(exc)}); the request may have"
            " been stored. Retry it with the same Idempotency-Key."
        )
    else:
        reason = f"PostgreSQL is unreachable ({first_line(exc)})"
    return Unavailable(f"{reason}; nothing was stored. Retry shortly.")
