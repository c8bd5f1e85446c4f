"""Rate-limit buckets and in-flight Idempotency-Key markers in Redis, shared by every node.

Each limiter decision is one Lua script, so the read, the refill and the spend are one atomic
step however many processes ask at once; the arithmetic is ``pipeline.limits.take``'s, to the
last bit (floats cross the Lua boundary as ``%.17g`` strings, which round-trip exactly).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry as SyncRetry

from flokit.errors import Unavailable
from flokit.pipeline.limits import WINDOW_S, Decision, decision_of
from flokit.store.contract import BackendUnreachable

T = TypeVar("T")

#: Startup's reachability check: long enough for a slow network, short enough to fail fast.
STARTUP_TIMEOUT_S = 3.0
#: Per command: Redis answers in microseconds, so seconds mean it is gone.
SOCKET_TIMEOUT_S = 2.0
#: How long /readyz waits for a PING.
READY_TIMEOUT_S = 1.0
#: Per process: a decision holds a connection for well under a millisecond.
MAX_CONNECTIONS = 50
#: Idle connections are pinged before use after this long, so a restarted Redis is noticed.
HEALTH_CHECK_INTERVAL_S = 10
#: An idle bucket is full after one window; a few windows later it may as well not exist.
BUCKET_TTL_S = 3 * WINDOW_S

UNREACHABLE = "Redis is unreachable; nothing was stored. Retry shortly."

# KEYS[1]: the bucket. ARGV: limit, now_s, spend (1 or 0), ttl_s, window_s.
# Returns {allowed (1 or 0), tokens after the decision (%.17g)}. Statement for statement it is
# ``take``: Lua 5.1 numbers are doubles and the operations run in the same order.
_DECIDE = """
local limit = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local rate = limit / tonumber(ARGV[5])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'updated_s', 'capacity')
local tokens
local updated = now
if held[1] then
  updated = math.max(now, tonumber(held[2]))
  tokens = tonumber(held[1]) + (updated - tonumber(held[2])) * rate + (limit - tonumber(held[3]))
  tokens = math.min(limit, math.max(0.0, tokens))
else
  tokens = limit
end
local allowed = tokens >= 1.0
if ARGV[3] == '1' then
  if allowed then
    tokens = tokens - 1.0
  end
  redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
    'updated_s', string.format('%.17g', updated), 'capacity', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
return {allowed and 1 or 0, string.format('%.17g', tokens)}
"""

# KEYS[1]: the marker. ARGV[1]: the token that must hold it. Values are "<token>|<hex>".
_UNMARK = """
local held = redis.call('GET', KEYS[1])
if held and string.match(held, '^(.*)|') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def connect_redis(url: str) -> redis.asyncio.Redis:
    """An asyncio client for ``url``, once a PING shows Redis is there: a deployment that names
    Redis must not start without it (``BackendUnreachable``, one line for the CLI). The client
    reconnects by itself: a command that finds its connection dead is retried on a new one. A
    burst waits for a free connection rather than failing (redis-py's default pool raises past
    100 connections, which would turn a busy moment into 503s)."""
    check_reachable(url)
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=SOCKET_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
    )
    return redis.asyncio.Redis.from_pool(pool)


def check_reachable(url: str) -> None:
    """Raise ``BackendUnreachable`` unless Redis answers a PING at once (no retries)."""
    probe = redis.Redis.from_url(
        url,
        socket_timeout=STARTUP_TIMEOUT_S,
        socket_connect_timeout=STARTUP_TIMEOUT_S,
        retry=SyncRetry(NoBackoff(), 0),
    )
    try:
        probe.ping()
    except redis.RedisError as exc:
        raise BackendUnreachable(f"Redis at {_where(url)} is unreachable: {_reason(exc)}") from exc
    finally:
        probe.close()


def _where(url: str) -> str:
    """host:port (or the socket path) of ``url``, without its password."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


class _RedisUser:
    """What the limiter and the markers share: keys under a prefix, Redis errors as 503s."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def _call(self, op: Awaitable[T], failure: str = UNREACHABLE) -> T:
        """Await ``op``; a lost Redis becomes ``Unavailable`` (503, Retry-After)."""
        try:
            return await op
        except redis.RedisError as exc:  # lost, read-only after a failover, out of memory
            raise Unavailable(failure) from exc

    async def unready_reason(self) -> str | None:
        """Why Redis cannot serve now ("redis: …"), or None; waits briefly, never long."""
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await self._call(self._client.ping())
        except TimeoutError:
            return f"redis: no answer within {READY_TIMEOUT_S:g} s"
        except Unavailable as exc:
            return f"redis: {_reason(exc.__cause__ or exc)}"
        return None

    async def aclose(self) -> None:
        """Close the client's connections (on the loop they live on: redis-py's rule)."""
        await self._client.aclose()


class RedisLimiter(_RedisUser):
    """``Limiter`` over a hash per workspace (``<prefix>bucket:<id>``: tokens, updated_s,
    capacity), each decision one script run; idle buckets expire (they would be full anyway)."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str) -> None:
        super().__init__(client, prefix)
        self._decide_script = client.register_script(_DECIDE)

    async def acquire(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        """Spend a token if there is one, atomically across every node."""
        return await self._decide(workspace_id, limit, now_s, spend=True)

    async def peek(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        """The bucket's state for the headers; writes nothing."""
        return await self._decide(workspace_id, limit, now_s, spend=False)

    async def _decide(self, workspace_id: int, limit: int, now_s: float, spend: bool) -> Decision:
        key = f"{self._prefix}bucket:{workspace_id}"
        args: list[str | int] = [limit, repr(float(now_s)), int(spend), BUCKET_TTL_S, WINDOW_S]
        allowed, tokens = await self._call(self._decide_script(keys=[key], args=args))
        return decision_of(bool(allowed), float(tokens), limit, spend)


class RedisInFlight(_RedisUser):
    """``InFlightMarkers`` as keys ``<prefix>inflight:<id>:<key>`` holding ``<token>|<hex>``;
    each expires after ``ttl_ms``, so a crashed request's mark does not outlive it by long."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str, ttl_ms: int = 30_000) -> None:
        super().__init__(client, prefix)
        self._ttl_ms = ttl_ms
        self._unmark_script = client.register_script(_UNMARK)

    async def mark(
        self, workspace_id: int, key: str, fingerprint: bytes, token: str
    ) -> bytes | None:
        """Mark the key as this request's; None if marked, else the holder's fingerprint. A
        mark holding ``token`` is ours (a retried SET whose first reply was lost)."""
        name = self._name(workspace_id, key)
        value = f"{token}|{fingerprint.hex()}"
        for _ in range(2):  # the holder's mark may expire between SET and GET: once more
            if await self._call(self._client.set(name, value, nx=True, px=self._ttl_ms)):
                return None
            held = await self._call(self._client.get(name))
            if held is not None:
                text = held.decode() if isinstance(held, bytes) else held
                holder, _, hex_fingerprint = text.rpartition("|")
                return None if holder == token else bytes.fromhex(hex_fingerprint)
        return fingerprint  # marked and unmarked twice meanwhile: busy; the caller says 409

    async def unmark(self, workspace_id: int, key: str, token: str) -> None:
        """Remove the mark if ``token`` holds it (compare and delete, atomically)."""
        name = self._name(workspace_id, key)
        await self._call(
            self._unmark_script(keys=[name], args=[token]),
            "Redis is unreachable; this Idempotency-Key stays in flight until its mark expires.",
        )

    def _name(self, workspace_id: int, key: str) -> str:
        return f"{self._prefix}inflight:{workspace_id}:{key}"
