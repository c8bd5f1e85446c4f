"""The Limiter and InFlightMarkers contracts (contract §6, §7), run against every backend.

Every limiter must decide exactly as the pure ``take`` does, and stay exact under concurrency,
since the nodes of one deployment share its buckets. A new backend is one line in ``LIMITERS``
or ``MARKERS``: an async factory that opens an instance on the test's ``Place``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flokit.errors import IdempotencyKeyInUse, IdempotencyKeyReused, Unavailable
from flokit.model import IdempotencyClaim
from flokit.pipeline.idempotency import LocalInFlight, hold
from flokit.pipeline.limits import Bucket, Decision, take
from flokit.store.contract import BackendUnreachable, InFlightMarkers, Limiter
from flokit.store.postgres import PostgresStore
from flokit.store.postgres.limits import PgInFlight, PgLimiter
from flokit.store.redis import (
    BUCKET_TTL_S,
    RedisInFlight,
    RedisLimiter,
    connect_redis,
)
from flokit.store.sqlite_limiter import SqliteLimiter

from backends import REDIS_URL, redis_prefix

T = TypeVar("T")
C = TypeVar("C", bound="Closable")

#: Each scenario (each Hypothesis example too) uses workspaces no other one touched, so the
#: examples of a property can share one fixture's backend.
WORKSPACES = itertools.count(1)
FIXTURE_PER_TEST = HealthCheck.function_scoped_fixture


class Closable(Protocol):
    async def aclose(self) -> None: ...


class Place:
    """Where one test's backends live: its directory, a Redis key prefix (made on first use),
    and the instances to close on the scenario's event loop, where their sockets live."""

    def __init__(self, tmp_path: Path, stack: ExitStack, request: pytest.FixtureRequest) -> None:
        self.tmp_path = tmp_path
        self._stack = stack
        self._request = request
        self._prefix: str | None = None
        self._postgres: PostgresStore | None = None
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def postgres(self) -> PostgresStore:
        """A store on this run's PostgreSQL database, opened once per test (its pool is what
        several limiter instances share, like the connections of several nodes)."""
        if self._postgres is None:
            url = self._request.getfixturevalue("postgres_url")
            self._postgres = self._stack.enter_context(contextlib.closing(PostgresStore(url)))
        return self._postgres

    def redis_prefix(self) -> str:
        if self._prefix is None:
            self._prefix = self._stack.enter_context(redis_prefix())
        return self._prefix

    def redis_client(self) -> redis.asyncio.Redis:
        self.redis_prefix()  # skips the test first if Redis is not there
        return connect_redis(REDIS_URL)

    def closes(self, opened: C) -> C:
        self._closers.append(opened.aclose)
        return opened

    def run(self, scenario: Coroutine[Any, Any, None]) -> None:
        """Run ``scenario`` on a new event loop, then close what it opened on that loop."""

        async def then_close() -> None:
            try:
                await scenario
            finally:
                while self._closers:
                    await self._closers.pop()()

        asyncio.run(then_close())


async def sqlite_limiter(place: Place) -> Limiter:
    return place.closes(SqliteLimiter(place.tmp_path / "x.limits"))


async def redis_limiter(place: Place) -> Limiter:
    return place.closes(RedisLimiter(place.redis_client(), place.redis_prefix()))


async def postgres_limiter(place: Place) -> Limiter:
    return PgLimiter(place.postgres())


async def postgres_markers(place: Place) -> InFlightMarkers:
    return PgInFlight(place.postgres(), 30_000)


async def local_markers(place: Place) -> InFlightMarkers:
    return LocalInFlight()


async def redis_markers(place: Place) -> InFlightMarkers:
    return place.closes(RedisInFlight(place.redis_client(), place.redis_prefix()))


LIMITERS: dict[str, Callable[[Place], Awaitable[Limiter]]] = {
    "sqlite": sqlite_limiter,
    "redis": redis_limiter,
    "postgresql": postgres_limiter,
}
MARKERS: dict[str, Callable[[Place], Awaitable[InFlightMarkers]]] = {
    "local": local_markers,
    "redis": redis_markers,
    "postgresql": postgres_markers,
}


@dataclass
class Backend(Generic[T]):
    """One backend for one test: every ``open`` shares its state, as a deployment's nodes do."""

    name: str
    place: Place
    factory: Callable[[Place], Awaitable[T]]

    async def open(self) -> T:
        return await self.factory(self.place)

    def run(self, scenario: Coroutine[Any, Any, None]) -> None:
        self.place.run(scenario)


@pytest.fixture(params=list(LIMITERS), ids=list(LIMITERS))
def limiters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend[Limiter]]:
    with ExitStack() as stack:
        yield Backend(request.param, Place(tmp_path, stack, request), LIMITERS[request.param])


@pytest.fixture(params=list(MARKERS), ids=list(MARKERS))
def markers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend[InFlightMarkers]]:
    with ExitStack() as stack:
        yield Backend(request.param, Place(tmp_path, stack, request), MARKERS[request.param])


@pytest.fixture
def place(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Place]:
    with ExitStack() as stack:
        yield Place(tmp_path, stack, request)


# --- limiters ---------------------------------------------------------------------------------

Op = tuple[float, int, bool]  # (clock step, limit, spend: acquire rather than peek)


@st.composite
def histories(draw: st.DrawFn) -> tuple[float, list[Op]]:
    """A start time and operations on one bucket: bursts at one instant, refills, a clock that
    sometimes steps back (another node's), and a limit changed now and then."""
    start = draw(st.floats(min_value=0, max_value=2e9))
    limits = draw(st.lists(st.integers(min_value=1, max_value=1000), min_size=1, max_size=3))
    step = st.one_of(st.just(0.0), st.floats(min_value=-5, max_value=90))
    op = st.tuples(step, st.sampled_from(limits), st.booleans())
    return start, draw(st.lists(op, min_size=1, max_size=60))


def replay(start: float, ops: list[Op]) -> Iterator[tuple[Op, float, Decision, Bucket | None]]:
    """Each operation with its clock, the decision ``take`` makes and the bucket after it (a
    peek stores nothing)."""
    bucket: Bucket | None = None
    now = start
    for op in ops:
        step, limit, spend = op
        now += step
        decision, after = take(bucket, limit, now, spend)
        bucket = after if spend else bucket
        yield op, now, decision, bucket


async def decide(
    limiter: Limiter, workspace_id: int, limit: int, now: float, spend: bool
) -> Decision:
    if spend:
        return await limiter.acquire(workspace_id, limit, now)
    return await limiter.peek(workspace_id, limit, now)


@settings(deadline=None, suppress_health_check=[FIXTURE_PER_TEST])
@given(histories())
def test_every_decision_is_exactly_takes(
    limiters: Backend[Limiter], history: tuple[float, list[Op]]
) -> None:
    async def scenario() -> None:
        limiter, workspace_id = await limiters.open(), next(WORKSPACES)
        for (_, limit, spend), now, expected, _ in replay(*history):
            assert await decide(limiter, workspace_id, limit, now, spend) == expected

    limiters.run(scenario())


@given(
    st.integers(min_value=1, max_value=20),
    st.lists(st.one_of(st.just(0.0), st.floats(min_value=-30, max_value=30)), max_size=200),
)
def test_clocks_out_of_order_never_admit_more_than_the_bucket_refills(
    limit: int, steps: list[float]
) -> None:
    """Decisions stamped out of order (nodes' clocks, requests that waited for a connection):
    over any span, at most a full bucket plus the span's refill is admitted. A bucket whose
    clock stepped back refilled the same seconds twice (a two-worker test admitted 121 of 100
    plus 17)."""
    stamps = list(itertools.accumulate(steps, initial=1000.0))
    bucket: Bucket | None = None
    admitted = 0
    for now in stamps:
        decision, bucket = take(bucket, limit, now, spend=True)
        admitted += decision.allowed
    span = max(stamps) - stamps[0]
    assert admitted <= limit + span * limit / 60 + 1e-9


def test_a_late_stamp_refills_nothing_and_keeps_the_clock(limiters: Backend[Limiter]) -> None:
    """Every backend: a bucket emptied at t=100, then a decision stamped t=40 and one at t=100
    again, admits nothing (the early stamp must not move the bucket's clock back)."""

    async def scenario() -> None:
        limiter, workspace_id = await limiters.open(), next(WORKSPACES)
        for _ in range(10):
            await limiter.acquire(workspace_id, 10, 100.0)
        late = await limiter.acquire(workspace_id, 10, 40.0)
        again = await limiter.acquire(workspace_id, 10, 100.0)
        assert not late.allowed and not again.allowed

    limiters.run(scenario())


@pytest.mark.parametrize("instances", [1, 2], ids=["one instance", "two instances"])
def test_concurrent_acquires_admit_exactly_capacity(
    limiters: Backend[Limiter], instances: int
) -> None:
    async def scenario() -> None:
        opened = [await limiters.open() for _ in range(instances)]
        workspace_id = next(WORKSPACES)
        decisions = await asyncio.gather(
            *(opened[i % instances].acquire(workspace_id, 50, 1000.0) for i in range(300))
        )
        admitted = [d for d in decisions if d.allowed]
        assert len(admitted) == 50
        assert sorted(d.remaining for d in admitted) == list(range(50))  # each token once

    limiters.run(scenario())


def test_a_raised_limit_adds_tokens_at_once_and_a_lowered_one_removes_them(
    limiters: Backend[Limiter],
) -> None:
    async def scenario() -> None:
        limiter, workspace_id = await limiters.open(), next(WORKSPACES)
        for _ in range(5):
            assert (await limiter.acquire(workspace_id, 5, 100.0)).allowed
        assert not (await limiter.acquire(workspace_id, 5, 100.0)).allowed
        raised = await limiter.acquire(workspace_id, 8, 100.0)
        assert (raised.allowed, raised.limit, raised.remaining) == (True, 8, 2)
        lowered = await limiter.acquire(workspace_id, 3, 100.0)
        assert (lowered.allowed, lowered.remaining) == (False, 0)

    limiters.run(scenario())


def test_peek_spends_nothing(limiters: Backend[Limiter]) -> None:
    async def scenario() -> None:
        limiter, workspace_id = await limiters.open(), next(WORKSPACES)
        for _ in range(3):
            assert await limiter.peek(workspace_id, 2, 10.0) == Decision(True, 2, 2, 0)
        assert (await limiter.acquire(workspace_id, 2, 10.0)).remaining == 1
        assert (await limiter.peek(workspace_id, 2, 10.0)).remaining == 1

    limiters.run(scenario())


# --- Redis limiter specifics ------------------------------------------------------------------


@settings(
    deadline=None, max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(histories())
def test_redis_bucket_holds_takes_floats_bit_for_bit(
    place: Place, history: tuple[float, list[Op]]
) -> None:
    async def scenario() -> None:
        client = place.redis_client()
        limiter = place.closes(RedisLimiter(client, place.redis_prefix()))
        workspace_id = next(WORKSPACES)
        for (_, limit, spend), now, _, bucket in replay(*history):
            await decide(limiter, workspace_id, limit, now, spend)
            stored = await client.hgetall(f"{place.redis_prefix()}bucket:{workspace_id}")
            assert stored_bucket(stored) == bucket

    place.run(scenario())


def stored_bucket(fields: Mapping[Any, Any]) -> Bucket | None:
    if not fields:
        return None
    return Bucket(float(fields[b"tokens"]), float(fields[b"updated_s"]), int(fields[b"capacity"]))


def test_redis_buckets_expire_when_idle_and_peeks_create_none(place: Place) -> None:
    async def scenario() -> None:
        client = place.redis_client()
        limiter = place.closes(RedisLimiter(client, place.redis_prefix()))
        peeked, spent = next(WORKSPACES), next(WORKSPACES)
        await limiter.peek(peeked, 5, 0.0)
        await limiter.acquire(spent, 5, 0.0)
        assert not await client.exists(f"{place.redis_prefix()}bucket:{peeked}")
        assert 0 < await client.ttl(f"{place.redis_prefix()}bucket:{spent}") <= BUCKET_TTL_S

    place.run(scenario())


def dead_redis_url(password: str = "") -> str:
    """A Redis URL where nothing listens (a port just freed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://:{password}@127.0.0.1:{port}/0" if password else f"redis://127.0.0.1:{port}/0"


def test_connect_redis_refuses_to_start_without_redis_and_hides_the_password() -> None:
    url = dead_redis_url(password="s3cret")
    with pytest.raises(BackendUnreachable) as caught:
        connect_redis(url)
    message = str(caught.value)
    assert message.startswith("Redis at 127.0.0.1:") and " is unreachable: " in message
    assert "s3cret" not in message


def test_lost_redis_means_503_and_unready() -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(dead_redis_url(), socket_connect_timeout=1)
        limiter, in_flight = RedisLimiter(client, "p:"), RedisInFlight(client, "p:")
        with pytest.raises(Unavailable, match="nothing was stored"):
            await limiter.acquire(1, 5, 0.0)
        with pytest.raises(Unavailable):
            await in_flight.mark(1, "k", b"\x01", "t")
        reason = await limiter.unready_reason()
        assert reason is not None and reason.startswith("redis: ")
        await limiter.aclose()

    asyncio.run(scenario())


def test_redis_limiter_reconnects_after_its_connection_is_killed(place: Place) -> None:
    async def scenario() -> None:
        client = place.redis_client()
        limiter = place.closes(RedisLimiter(client, place.redis_prefix()))
        workspace_id = next(WORKSPACES)
        assert (await limiter.acquire(workspace_id, 5, 0.0)).remaining == 4
        assert await limiter.unready_reason() is None
        kill(await client.client_id())
        assert (await limiter.acquire(workspace_id, 5, 0.0)).remaining == 3

    place.run(scenario())


def kill(client_id: int) -> None:
    """Close one connection from the server's side, as a Redis restart would."""
    with redis.Redis.from_url(REDIS_URL) as admin:
        assert admin.client_kill_filter(_id=str(client_id)) == 1


def test_redis_limiter_aclose_closes_its_connections(place: Place) -> None:
    async def scenario() -> None:
        client = place.redis_client()
        limiter = RedisLimiter(client, place.redis_prefix())
        await limiter.acquire(next(WORKSPACES), 5, 0.0)
        client_id = await client.client_id()
        await limiter.aclose()
        await eventually(lambda: not connected(client_id))

    place.run(scenario())


def connected(client_id: int) -> bool:
    with redis.Redis.from_url(REDIS_URL) as admin:
        return bool(admin.client_list(client_id=[client_id]))


async def eventually(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail if it does not within ``within_s``."""
    deadline = asyncio.get_running_loop().time() + within_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.01)


# --- in-flight markers ------------------------------------------------------------------------

A, B = b"\xaa" * 32, b"\xbb" * 32


def claim(key: str, fingerprint: bytes) -> IdempotencyClaim:
    return IdempotencyClaim(key, fingerprint, expires_us=0)


def test_a_repeat_gets_the_holders_fingerprint(markers: Backend[InFlightMarkers]) -> None:
    async def scenario() -> None:
        marks, workspace_id = await markers.open(), next(WORKSPACES)
        assert await marks.mark(workspace_id, "k:1", A, "t1") is None
        assert await marks.mark(workspace_id, "k:1", A, "t2") == A  # the caller answers 409
        assert await marks.mark(workspace_id, "k:1", B, "t3") == A  # the caller answers 422
        assert await marks.mark(workspace_id, "k:1", A, "t1") is None  # its own, again
        assert await marks.mark(workspace_id, "k:2", B, "t4") is None  # another key
        assert await marks.mark(next(WORKSPACES), "k:1", B, "t5") is None  # another workspace

    markers.run(scenario())


def test_hold_answers_409_for_the_same_body_and_422_for_another(
    markers: Backend[InFlightMarkers],
) -> None:
    async def scenario() -> None:
        marks, workspace_id = await markers.open(), next(WORKSPACES)
        async with hold(marks, workspace_id, claim("k", A)):
            with pytest.raises(IdempotencyKeyInUse):
                async with hold(marks, workspace_id, claim("k", A)):
                    pass
            with pytest.raises(IdempotencyKeyReused):
                async with hold(marks, workspace_id, claim("k", B)):
                    pass
        async with hold(marks, workspace_id, claim("k", B)):
            pass

    markers.run(scenario())


def test_only_the_holders_token_unmarks(markers: Backend[InFlightMarkers]) -> None:
    async def scenario() -> None:
        marks, workspace_id = await markers.open(), next(WORKSPACES)
        assert await marks.mark(workspace_id, "k", A, "t|1") is None
        for other in ["t", "t|", "|1", "t|2"]:
            await marks.unmark(workspace_id, "k", other)
            assert await marks.mark(workspace_id, "k", B, "t3") == A
        await marks.unmark(workspace_id, "k", "t|1")
        assert await marks.mark(workspace_id, "k", B, "t3") is None

    markers.run(scenario())


def test_redis_marks_expire(place: Place) -> None:
    async def scenario() -> None:
        client = place.redis_client()
        lasting = place.closes(RedisInFlight(client, place.redis_prefix()))
        brief = place.closes(RedisInFlight(client, place.redis_prefix(), ttl_ms=50))
        workspace_id = next(WORKSPACES)
        assert await lasting.mark(workspace_id, "long", A, "t1") is None
        name = f"{place.redis_prefix()}inflight:{workspace_id}:long"
        assert 0 < await client.pttl(name) <= 30_000
        assert await brief.mark(workspace_id, "short", A, "t1") is None
        deadline = asyncio.get_running_loop().time() + 5.0
        while (holder := await brief.mark(workspace_id, "short", B, "t2")) is not None:
            assert holder == A
            assert asyncio.get_running_loop().time() < deadline, "the mark never expired"
            await asyncio.sleep(0.01)

    place.run(scenario())
