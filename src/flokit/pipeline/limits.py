"""Rate-limit stage (contract §7): a token bucket per workspace, shared by every process.

The arithmetic is pure (``take``); where the buckets live is a ``Limiter`` backend's business
(``store.contract.Limiter``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class Decision:
    """One admission decision, and what the RateLimit headers say about it."""

    allowed: bool
    limit: int
    remaining: int
    wait_s: int  # seconds until a request would be admitted; 0 if one would be now

    def headers(self) -> dict[str, str]:
        out = {
            "RateLimit-Policy": f'"ingest";q={self.limit};w={WINDOW_S}',
            "RateLimit": f'"ingest";r={self.remaining};t={self.wait_s}',
        }
        if not self.allowed:
            out["Retry-After"] = str(self.wait_s)
        return out


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    updated_s: float
    limit: int  # the capacity it was filled for: a changed limit moves the tokens with it


def take(bucket: Bucket | None, limit: int, now_s: float, spend: bool) -> tuple[Decision, Bucket]:
    """Refill ``bucket`` to ``now_s`` (capacity ``limit``, ``limit`` per minute), then spend a
    token if ``spend`` and one is there. A new workspace starts full; a raised (lowered) limit
    adds (removes) the difference at once. The bucket's clock never goes back: a decision
    stamped earlier than the last one (another node's clock, or a request that waited for a
    connection) refills nothing and leaves the clock where it was, or the next decision would
    refill the same seconds twice."""
    rate = limit / WINDOW_S
    if bucket is None:
        tokens, updated_s = float(limit), now_s
    else:
        updated_s = max(now_s, bucket.updated_s)
        tokens = bucket.tokens + (updated_s - bucket.updated_s) * rate + (limit - bucket.limit)
        tokens = min(float(limit), max(0.0, tokens))
    allowed = tokens >= 1.0
    if spend and allowed:
        tokens -= 1.0
    return decision_of(allowed, tokens, limit, spend), Bucket(tokens, updated_s, limit)


def decision_of(allowed: bool, tokens: float, limit: int, spend: bool) -> Decision:
    """The decision of a refilled bucket (``allowed``: a token was there; ``tokens``: what is
    left after spending it): backends that refill elsewhere (a Redis script) decide with it."""
    rate = limit / WINDOW_S
    wait = 0 if tokens >= 1.0 else max(1, math.ceil((1.0 - tokens) / rate))
    return Decision(allowed or not spend, limit, int(tokens), wait)


class Unlimited:
    """The limiter when rate limits are switched off: every request admitted, a full bucket."""

    async def acquire(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        return Decision(True, limit, limit, 0)

    async def peek(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        return Decision(True, limit, limit, 0)

    async def unready_reason(self) -> str | None:
        return None

    async def aclose(self) -> None:
        pass
