"""Which Python drivers FloKit should use for PostgreSQL and Redis, measured side by side.

Decides (1) the PostgreSQL driver and insert method for 1,000-event write transactions
(psycopg 3 sync ``unnest`` with text (``%s``) or binary (``%b``) array parameters / binary
``COPY`` / pipelined ``executemany``, asyncpg prepared ``unnest`` / ``copy_records_to_table``,
psycopg 3 async ``unnest``) and for per-request
primary-key lookups (psycopg sync, sync through ``asyncio.to_thread``, psycopg async, asyncpg);
and (2) the Redis client for the token-bucket Lua script (redis-py sync with its pure-Python
parser vs hiredis, and redis.asyncio). Every round runs each method once, in a rotated order,
on a freshly truncated and checkpointed table; the table shows medians over the rounds and
each method's factor to the best (1.00 = best; 1.25 = 25% slower).

Needs PostgreSQL at 127.0.0.1:5432 (creates and drops database ``flokit_drivers_bench``) and
Redis at 127.0.0.1:6379 (keys ``flokit-drivers-bench:*``, deleted at the end).

    cd bench && ../.venv/bin/python drivers.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import psycopg
import redis
import redis.asyncio as aredis
from asyncpg.prepared_stmt import PreparedStatement

# redis-py 8 has no ``redis.connection.PythonParser``: its pure-Python parsers are these.
from redis._parsers import _AsyncRESP3Parser, _RESP3Parser

from workload import batch

HOST = "127.0.0.1"
DB = "flokit_drivers_bench"
ADMIN_DSN = f"host={HOST} port=5432 user=postgres dbname=test"
PG_DSN = f"host={HOST} port=5432 user=postgres dbname={DB}"
ASYNCPG_DSN = f"postgresql://postgres@{HOST}:5432/{DB}"
REDIS_PREFIX = "flokit-drivers-bench:"

ROWS = 1000  # events (and dedup keys) per transaction
WARMUP_TXNS = 3  # per measurement, before the clock starts (statements get prepared)
API_KEYS = 10_000
WORKSPACES = 50

SCHEMA = [
    """CREATE TABLE events (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        workspace_id bigint NOT NULL,
        event_id text NOT NULL UNIQUE,
        event text NOT NULL,
        user_id text,
        anonymous_id text,
        timestamp_us bigint NOT NULL,
        received_us bigint NOT NULL,
        properties text,
        insert_id text
    )""",
    """CREATE TABLE dedup_keys (
        workspace_id bigint,
        key text,
        event_id text,
        expires_us bigint,
        PRIMARY KEY (workspace_id, key)
    )""",
    """CREATE TABLE api_keys (
        key_hash text PRIMARY KEY,
        key_id text NOT NULL,
        workspace_id bigint NOT NULL,
        kind text NOT NULL,
        revoked_us bigint
    )""",
]

EVENT_COLUMNS = (
    "workspace_id",
    "event_id",
    "event",
    "user_id",
    "anonymous_id",
    "timestamp_us",
    "received_us",
    "properties",
    "insert_id",
)
EVENT_TYPES = ("bigint", "text", "text", "text", "text", "bigint", "bigint", "text", "text")
KEY_COLUMNS = ("workspace_id", "key", "event_id", "expires_us")
KEY_TYPES = ("bigint", "text", "text", "bigint")


def _unnest_insert(table: str, columns: tuple[str, ...], types: tuple[str, ...], pg: bool) -> str:
    """``INSERT ... SELECT * FROM unnest(<one array parameter per column>)``."""
    marks = [f"%s::{t}[]" if pg else f"${i}::{t}[]" for i, t in enumerate(types, 1)]
    return f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({', '.join(marks)})"


ON_CONFLICT = " ON CONFLICT DO NOTHING RETURNING key"
PG_EVENTS = _unnest_insert("events", EVENT_COLUMNS, EVENT_TYPES, pg=True)
PG_KEYS = _unnest_insert("dedup_keys", KEY_COLUMNS, KEY_TYPES, pg=True) + ON_CONFLICT
# The same with ``%b``: psycopg sends the arrays in binary (its text-array dumper escapes every
# element with a regex in Python, which dominated the ``%s`` profile).
PG_EVENTS_B = PG_EVENTS.replace("%s", "%b")
PG_KEYS_B = PG_KEYS.replace("%s", "%b")
APG_EVENTS = _unnest_insert("events", EVENT_COLUMNS, EVENT_TYPES, pg=False)
APG_KEYS = _unnest_insert("dedup_keys", KEY_COLUMNS, KEY_TYPES, pg=False) + ON_CONFLICT
PG_EVENTS_ROW = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join(['%s'] * 9)})"
PG_KEYS_ROW = f"INSERT INTO dedup_keys ({', '.join(KEY_COLUMNS)}) VALUES (%s, %s, %s, %s)"
PG_COPY = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = ["int8", "text", "text", "text", "text", "int8", "int8", "text", "text"]
PG_LOOKUP = (
    "SELECT key_id, workspace_id, kind FROM api_keys WHERE key_hash = %s AND revoked_us IS NULL"
)
APG_LOOKUP = PG_LOOKUP.replace("%s", "$1")

# Token bucket: KEYS[1] one hash per workspace; ARGV limit per minute, now (ms), spend (0/1).
# Returns {allowed, tokens left (floor), ms until one token is back}.
TOKEN_BUCKET = """
local limit = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local spend = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or limit
local ts = tonumber(state[2]) or now
local per_ms = limit / 60000
tokens = math.min(limit, tokens + math.max(0, now - ts) * per_ms)
local allowed = 0
if spend > 0 and tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
if spend > 0 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', KEYS[1], 120000)
end
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) / per_ms) end
return {allowed, math.floor(tokens), wait}
"""

EventRow = tuple[int, str, str, str | None, str | None, int, int, str, str]
KeyRow = tuple[int, str, str, int]


@dataclass(frozen=True, slots=True)
class Txn:
    """One write transaction: ``ROWS`` events, each with its one ``i:<insert_id>`` key."""

    events: list[EventRow]
    keys: list[KeyRow]


def make_txns(count: int) -> list[Txn]:
    """``count`` transactions of realistic events (bench/workload.py), every id unique."""
    templates = batch(seed=7, size=ROWS, invalid_share=0.0)
    rng = random.Random(7)
    now_us = time.time_ns() // 1000
    serial = 0
    txns: list[Txn] = []
    for _ in range(count):
        events: list[EventRow] = []
        keys: list[KeyRow] = []
        workspace_id = rng.randrange(1, WORKSPACES + 1)
        received_us = now_us + serial
        for doc in templates:
            serial += 1
            event_id = f"{received_us // 1000:012x}{serial:014x}"  # time-ordered, like ULIDs
            insert_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            timestamp_us = now_us - rng.randrange(86_400_000_000)
            properties = json.dumps(doc["properties"], separators=(",", ":"))
            events.append(
                (
                    workspace_id,
                    event_id,
                    doc["event"],
                    doc["user_id"],
                    doc["anonymous_id"],
                    timestamp_us,
                    received_us,
                    properties,
                    insert_id,
                )
            )
            keys.append(
                (workspace_id, f"i:{insert_id}", event_id, received_us + 7 * 86_400_000_000)
            )
        txns.append(Txn(events, keys))
    return txns


def columns(rows: list[Any]) -> list[list[Any]]:
    """Rows as one list per column (the ``unnest`` array parameters)."""
    return [list(c) for c in zip(*rows, strict=True)]


# --- PostgreSQL write methods: each writes one transaction, returns the keys it claimed -------


def pg_unnest(conn: psycopg.Connection[Any], txn: Txn) -> int:
    with conn.transaction():
        claimed = conn.execute(PG_KEYS, columns(txn.keys)).fetchall()
        conn.execute(PG_EVENTS, columns(txn.events))
    return len(claimed)


def pg_unnest_binary(conn: psycopg.Connection[Any], txn: Txn) -> int:
    with conn.transaction():
        claimed = conn.execute(PG_KEYS_B, columns(txn.keys)).fetchall()
        conn.execute(PG_EVENTS_B, columns(txn.events))
    return len(claimed)


def pg_copy(conn: psycopg.Connection[Any], txn: Txn) -> int:
    with conn.transaction():
        claimed = conn.execute(PG_KEYS_B, columns(txn.keys)).fetchall()
        with conn.cursor().copy(PG_COPY) as copy:
            copy.set_types(COPY_TYPES)
            for row in txn.events:
                copy.write_row(row)
    return len(claimed)


def pg_executemany(conn: psycopg.Connection[Any], txn: Txn) -> int:
    with conn.transaction(), conn.pipeline(), conn.cursor() as cur:
        cur.executemany(PG_KEYS_ROW + ON_CONFLICT, txn.keys, returning=True)
        claimed = 0
        while True:
            claimed += len(cur.fetchall())
            if not cur.nextset():
                break
        cur.executemany(PG_EVENTS_ROW, txn.events)
    return claimed


@dataclass(frozen=True, slots=True)
class Asyncpg:
    """An asyncpg connection with its two unnest statements prepared once (``prepare()`` does
    not use asyncpg's statement cache: calling it per transaction costs a round trip)."""

    conn: asyncpg.Connection
    keys: PreparedStatement
    events: PreparedStatement

    async def close(self) -> None:
        await self.conn.close()


async def connect_asyncpg() -> Asyncpg:
    conn = await asyncpg.connect(ASYNCPG_DSN)
    return Asyncpg(conn, await conn.prepare(APG_KEYS), await conn.prepare(APG_EVENTS))


async def apg_unnest(db: Asyncpg, txn: Txn) -> int:
    async with db.conn.transaction():
        claimed = await db.keys.fetch(*columns(txn.keys))
        await db.events.fetch(*columns(txn.events))
    return len(claimed)


async def apg_copy(db: Asyncpg, txn: Txn) -> int:
    async with db.conn.transaction():
        claimed = await db.keys.fetch(*columns(txn.keys))
        await db.conn.copy_records_to_table("events", records=txn.events, columns=EVENT_COLUMNS)
    return len(claimed)


async def pg_async_unnest(conn: psycopg.AsyncConnection[Any], txn: Txn) -> int:
    async with conn.transaction():
        cur = await conn.execute(PG_KEYS_B, columns(txn.keys))
        claimed = await cur.fetchall()
        await conn.execute(PG_EVENTS_B, columns(txn.events))
    return len(claimed)


def reset_tables(admin: psycopg.Connection[Any]) -> None:
    """Empty tables and a fresh checkpoint, so every measurement starts alike."""
    admin.execute("TRUNCATE events, dedup_keys RESTART IDENTITY")
    admin.execute("CHECKPOINT")


def check_written(admin: psycopg.Connection[Any], txns: list[Txn], claimed: int) -> None:
    expected = len(txns) * ROWS
    row = admin.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM dedup_keys)")
    counts = row.fetchone()
    if counts != (expected, expected) or claimed != expected:
        raise RuntimeError(f"wrote {counts}, claimed {claimed}, expected {expected} each")


def write_sync(
    admin: psycopg.Connection[Any],
    write: Callable[[psycopg.Connection[Any], Txn], int],
    txns: list[Txn],
) -> float:
    """Rows a second of ``write`` over ``txns`` (after ``WARMUP_TXNS`` unmeasured)."""
    reset_tables(admin)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        claimed = sum(write(conn, t) for t in txns[:WARMUP_TXNS])
        started = time.perf_counter()
        for txn in txns[WARMUP_TXNS:]:
            claimed += write(conn, txn)
        elapsed = time.perf_counter() - started
    check_written(admin, txns, claimed)
    return (len(txns) - WARMUP_TXNS) * ROWS / elapsed


def write_async(
    admin: psycopg.Connection[Any],
    connect: Callable[[], Awaitable[Any]],
    write: Callable[[Any, Txn], Awaitable[int]],
    txns: list[Txn],
) -> float:
    """As ``write_sync``, for a coroutine ``write`` on the connection ``connect`` opens."""
    reset_tables(admin)

    async def run() -> tuple[float, int]:
        conn = await connect()
        try:
            claimed = 0
            for txn in txns[:WARMUP_TXNS]:
                claimed += await write(conn, txn)
            started = time.perf_counter()
            for txn in txns[WARMUP_TXNS:]:
                claimed += await write(conn, txn)
            return time.perf_counter() - started, claimed
        finally:
            await conn.close()

    elapsed, claimed = asyncio.run(run())
    check_written(admin, txns, claimed)
    return (len(txns) - WARMUP_TXNS) * ROWS / elapsed


async def connect_psycopg_async() -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True)


# --- PostgreSQL per-request lookups: µs a call, sequential, by primary key --------------------


def lookup_sync(hashes: list[str]) -> float:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        for h in hashes[:100]:
            conn.execute(PG_LOOKUP, (h,)).fetchone()
        started = time.perf_counter()
        for h in hashes:
            if conn.execute(PG_LOOKUP, (h,)).fetchone() is None:
                raise RuntimeError("key not found")
        return (time.perf_counter() - started) / len(hashes) * 1e6


def lookup_to_thread(hashes: list[str]) -> float:
    def find(conn: psycopg.Connection[Any], h: str) -> tuple[Any, ...] | None:
        return conn.execute(PG_LOOKUP, (h,)).fetchone()

    async def run(conn: psycopg.Connection[Any]) -> float:
        for h in hashes[:100]:
            await asyncio.to_thread(find, conn, h)
        started = time.perf_counter()
        for h in hashes:
            if await asyncio.to_thread(find, conn, h) is None:
                raise RuntimeError("key not found")
        return (time.perf_counter() - started) / len(hashes) * 1e6

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        return asyncio.run(run(conn))


def lookup_psycopg_async(hashes: list[str]) -> float:
    async def run() -> float:
        async with await psycopg.AsyncConnection.connect(PG_DSN, autocommit=True) as conn:
            for h in hashes[:100]:
                await (await conn.execute(PG_LOOKUP, (h,))).fetchone()
            started = time.perf_counter()
            for h in hashes:
                if await (await conn.execute(PG_LOOKUP, (h,))).fetchone() is None:
                    raise RuntimeError("key not found")
            return (time.perf_counter() - started) / len(hashes) * 1e6

    return asyncio.run(run())


def lookup_asyncpg(hashes: list[str]) -> float:
    async def run() -> float:
        conn = await asyncpg.connect(ASYNCPG_DSN)
        try:
            for h in hashes[:100]:
                await conn.fetchrow(APG_LOOKUP, h)
            started = time.perf_counter()
            for h in hashes:
                if await conn.fetchrow(APG_LOOKUP, h) is None:
                    raise RuntimeError("key not found")
            return (time.perf_counter() - started) / len(hashes) * 1e6
        finally:
            await conn.close()

    return asyncio.run(run())


# --- Redis token bucket: µs an EVALSHA, sequential ---------------------------------------------


def bucket_args(calls: int) -> list[tuple[str, int]]:
    rng = random.Random(11)
    return [(f"{REDIS_PREFIX}bucket:{rng.randrange(WORKSPACES)}", 600) for _ in range(calls)]


def redis_sync(args: list[tuple[str, int]], parser: type[Any] | None) -> tuple[float, str]:
    kwargs: dict[str, Any] = {} if parser is None else {"parser_class": parser}
    pool = redis.ConnectionPool(host=HOST, port=6379, **kwargs)
    client = redis.Redis(connection_pool=pool)
    try:
        sha = client.script_load(TOKEN_BUCKET)
        for key, limit in args[:200]:
            client.evalsha(sha, 1, key, limit, time.time_ns() // 1_000_000, 1)
        started = time.perf_counter()
        for key, limit in args:
            client.evalsha(sha, 1, key, limit, time.time_ns() // 1_000_000, 1)
        elapsed = time.perf_counter() - started
        conn = pool.get_connection()
        used = type(conn._parser).__name__
        pool.release(conn)
        return elapsed / len(args) * 1e6, used
    finally:
        client.close()


def redis_async(args: list[tuple[str, int]], parser: type[Any] | None) -> tuple[float, str]:
    async def run() -> tuple[float, str]:
        kwargs: dict[str, Any] = {} if parser is None else {"parser_class": parser}
        pool = aredis.ConnectionPool(host=HOST, port=6379, **kwargs)
        client = aredis.Redis(connection_pool=pool)
        try:
            sha = await client.script_load(TOKEN_BUCKET)
            for key, limit in args[:200]:
                await client.evalsha(sha, 1, key, limit, time.time_ns() // 1_000_000, 1)
            started = time.perf_counter()
            for key, limit in args:
                await client.evalsha(sha, 1, key, limit, time.time_ns() // 1_000_000, 1)
            elapsed = time.perf_counter() - started
            conn = await pool.get_connection()  # type: ignore[no-untyped-call]
            used = type(conn._parser).__name__
            await pool.release(conn)
            return elapsed / len(args) * 1e6, used
        finally:
            await client.aclose()

    return asyncio.run(run())


def redis_cleanup() -> int:
    client = redis.Redis(host=HOST, port=6379)
    try:
        keys = list(client.scan_iter(match=f"{REDIS_PREFIX}*", count=1000))
        deleted: Any = client.delete(*keys) if keys else 0
        return int(deleted)
    finally:
        client.close()


# --- Setup, rounds and the table ----------------------------------------------------------------


def create_database() -> list[str]:
    """A fresh ``flokit_drivers_bench`` with the schema and ``API_KEYS`` keys; their hashes."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    hashes = [hashlib.sha256(f"fk_live_{i}".encode()).hexdigest() for i in range(API_KEYS)]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        with conn.cursor().copy("COPY api_keys FROM STDIN") as copy:
            for i, h in enumerate(hashes):
                copy.write_row((h, f"key_{i}", i % WORKSPACES + 1, "read_write", None))
        conn.execute("VACUUM ANALYZE api_keys")
    return hashes


def drop_database() -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def rotated(items: list[Any], shift: int) -> list[Any]:
    """``items`` in a different order each round (rotated, reversed on odd rounds)."""
    shift %= len(items)
    order = items[shift:] + items[:shift]
    return order[::-1] if shift % 2 else order


def table(title: str, unit: str, results: dict[str, list[float]], higher_is_better: bool) -> str:
    medians = {name: statistics.median(values) for name, values in results.items()}
    best = max(medians.values()) if higher_is_better else min(medians.values())
    width = max(len(name) for name in results)
    lines = [
        f"{title}",
        f"  {'method':<{width}}  {'median ' + unit:>14}  {'vs best':>7}  rounds",
    ]
    ranked = sorted(medians, key=medians.__getitem__, reverse=higher_is_better)
    for name in ranked:
        median = medians[name]
        factor = best / median if higher_is_better else median / best
        rounds = " ".join(f"{v:,.0f}" if v >= 100 else f"{v:.1f}" for v in results[name])
        shown = f"{median:,.0f}" if median >= 100 else f"{median:.1f}"
        lines.append(f"  {name:<{width}}  {shown:>14}  {factor:>6.2f}x  {rounds}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--txns", type=int, default=100, help="timed 1,000-row transactions")
    parser.add_argument("--lookups", type=int, default=5000)
    parser.add_argument("--redis-calls", type=int, default=20_000)
    opts = parser.parse_args()
    began = time.perf_counter()

    hashes = create_database()
    txns = make_txns(opts.txns + WARMUP_TXNS)
    rng = random.Random(3)
    lookups = [hashes[rng.randrange(API_KEYS)] for _ in range(opts.lookups)]
    bucket = bucket_args(opts.redis_calls)
    parsers: dict[str, str] = {}

    def redis_run(name: str, fn: Callable[[], tuple[float, str]]) -> float:
        us, used = fn()
        parsers[name] = used
        return us

    try:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            writes: dict[str, Callable[[], float]] = {
                "psycopg sync unnest %s (text arrays)": lambda: write_sync(admin, pg_unnest, txns),
                "psycopg sync unnest %b (binary arrays)": lambda: write_sync(
                    admin, pg_unnest_binary, txns
                ),
                "psycopg sync COPY binary + unnest %b": lambda: write_sync(admin, pg_copy, txns),
                "psycopg sync executemany": lambda: write_sync(admin, pg_executemany, txns),
                "asyncpg unnest (prepared)": lambda: write_async(
                    admin, connect_asyncpg, apg_unnest, txns
                ),
                "asyncpg copy_records + unnest": lambda: write_async(
                    admin, connect_asyncpg, apg_copy, txns
                ),
                "psycopg async unnest %b": lambda: write_async(
                    admin, connect_psycopg_async, pg_async_unnest, txns
                ),
            }
            reads: dict[str, Callable[[], float]] = {
                "psycopg sync": lambda: lookup_sync(lookups),
                "psycopg sync via to_thread": lambda: lookup_to_thread(lookups),
                "psycopg async": lambda: lookup_psycopg_async(lookups),
                "asyncpg": lambda: lookup_asyncpg(lookups),
            }
            caches: dict[str, Callable[[], float]] = {
                "redis-py sync, pure-Python parser": lambda: redis_run(
                    "redis-py sync, pure-Python parser", lambda: redis_sync(bucket, _RESP3Parser)
                ),
                "redis-py sync, hiredis": lambda: redis_run(
                    "redis-py sync, hiredis", lambda: redis_sync(bucket, None)
                ),
                "redis.asyncio, pure-Python parser": lambda: redis_run(
                    "redis.asyncio, pure-Python parser",
                    lambda: redis_async(bucket, _AsyncRESP3Parser),
                ),
                "redis.asyncio, hiredis": lambda: redis_run(
                    "redis.asyncio, hiredis", lambda: redis_async(bucket, None)
                ),
            }
            results: dict[str, dict[str, list[float]]] = {"w": {}, "r": {}, "c": {}}
            for r in range(opts.rounds):
                for group, methods in (("w", writes), ("r", reads), ("c", caches)):
                    for name in rotated(list(methods), r):
                        results[group].setdefault(name, []).append(methods[name]())
                print(f"round {r + 1}/{opts.rounds} done ({time.perf_counter() - began:.0f} s)")
    finally:
        drop_database()
        deleted = redis_cleanup()

    print()
    print(
        f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__} libpq {psycopg.pq.version()}),"
        f" asyncpg {asyncpg.__version__}, redis-py {redis.__version__}"
    )
    print(
        f"{opts.rounds} rounds, methods rotated each round; PostgreSQL synchronous_commit on,"
        " tables truncated + CHECKPOINT before each write measurement"
    )
    print()
    title = f"PostgreSQL writes: {opts.txns} x {ROWS:,}-event txns (+1 dedup key each), rows/s"
    print(table(title, "rows/s", {k: results["w"][k] for k in writes}, higher_is_better=True))
    print()
    title = f"PostgreSQL lookup by primary key, {opts.lookups:,} sequential calls, µs/call"
    print(table(title, "µs", {k: results["r"][k] for k in reads}, higher_is_better=False))
    print()
    title = f"Redis token bucket EVALSHA, {opts.redis_calls:,} sequential calls, µs/call"
    print(table(title, "µs", {k: results["c"][k] for k in caches}, higher_is_better=False))
    print("  parsers in use: " + ", ".join(f"{k}: {v}" for k, v in parsers.items()))
    print()
    print(
        f"cleanup: dropped database {DB}, deleted {deleted} Redis keys;"
        f" total {time.perf_counter() - began:.0f} s"
    )


if __name__ == "__main__":
    main()
