"""The PostgreSQL store on a real server: what only a shared database with many writers needs
(migrations racing, duplicates and Idempotency-Keys across connections, job claims, limits,
outages). Every assertion holds whatever the interleaving; none depends on timing."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import msgspec
import psycopg
import pytest
from relay import Relay

from flokit.errors import Unavailable
from flokit.model import (
    Appended,
    EventQuery,
    IdempotencyClaim,
    ImportRecord,
    Rendered,
    ValidEvent,
    Workspace,
)
from flokit.pipeline.duplicates import duplicate_keys
from flokit.store.contract import (
    BackendUnreachable,
    ImportGap,
    ImportUpdate,
    SchemaOutOfDate,
    SchemaTooNew,
)
from flokit.store.postgres import (
    PgInFlight,
    PgLimiter,
    PostgresStore,
    latest_version,
    migrate,
)

from backends import postgres_database

T = TypeVar("T")
FAR_FUTURE_US = 2**62


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def store(pg_url: str) -> Iterator[PostgresStore]:
    pg = PostgresStore(pg_url, pool_size=8)
    yield pg
    pg.close()


@pytest.fixture
def workspace(store: PostgresStore) -> Workspace:
    return store.create_workspace("test")[0]


@pytest.fixture
def fresh_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def new_ids(n: int) -> list[str]:
    return [f"evt_{secrets.token_hex(12)}" for _ in range(n)]


def event(insert_id: str | None = None, txn: str | None = None, name: str = "e") -> ValidEvent:
    props = msgspec.json.encode({"txn": txn}) if txn else None
    return ValidEvent(name, "u", None, 1_700_000_000_000_000, props, insert_id, txn)


def render(originals: list[str | None]) -> Rendered:
    return Rendered(msgspec.json.encode(originals), {"X-Test": "1"})


def append(
    pg: PostgresStore, ws: int, events: list[ValidEvent], claim: IdempotencyClaim | None = None
) -> tuple[list[str], Appended]:
    ids = new_ids(len(events))
    return ids, run(pg.append(ws, events, ids, 1_000, FAR_FUTURE_US, render, claim))


def stored(pg: PostgresStore, ws: int) -> dict[str, ValidEvent]:
    """Every event the workspace holds, by id (the transaction id is kept in properties)."""
    rows = run(pg.query_events(EventQuery(ws, limit=100_000)))
    txn = [msgspec.json.decode(r.properties)["txn"] if r.properties else None for r in rows]
    return {
        r.event_id: ValidEvent(r.event, r.user_id, None, 0, None, r.insert_id, t)
        for r, t in zip(rows, txn, strict=True)
    }


def key_rows(url: str, ws: int) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT key, event_id FROM dedup_keys WHERE workspace_id = %s", (ws,))
        return dict(rows.fetchall())


def at_once(n: int, work: Callable[[int], T]) -> list[T]:
    """``work(0..n-1)`` in n threads released together; their results (or first error)."""
    barrier = threading.Barrier(n)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(start, range(n)))


# -- schema ----------------------------------------------------------------------------------


def _migrate_in_process(url: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    results.put(migrate(url))


@pytest.mark.parametrize("how", ["threads", "processes"])
def test_ten_migrations_at_once_end_at_the_latest_version_applied_once(
    fresh_url: str, how: str
) -> None:
    if how == "threads":
        versions = at_once(10, lambda _: migrate(fresh_url))
    else:
        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(10), context.Queue()
        children = [
            context.Process(target=_migrate_in_process, args=(fresh_url, barrier, results))
            for _ in range(10)
        ]
        for child in children:
            child.start()
        versions = [results.get(timeout=120) for _ in children]
        for child in children:
            child.join()
        assert [child.exitcode for child in children] == [0] * 10
    assert versions == [latest_version()] * 10
    with psycopg.connect(fresh_url) as conn:
        applied = conn.execute("SELECT version FROM flokit_schema ORDER BY version").fetchall()
    assert [v for (v,) in applied] == list(range(1, latest_version() + 1))


def test_a_database_migrated_by_a_newer_flokit_is_refused(fresh_url: str) -> None:
    newer = latest_version() + 1
    migrate(fresh_url)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("INSERT INTO flokit_schema (version) VALUES (%s)", (newer,))
    message = f"database schema is version {newer}, this FloKit knows up to {latest_version()}"
    for opening in (
        lambda: migrate(fresh_url),
        lambda: PostgresStore(fresh_url),
        lambda: PostgresStore(fresh_url, migrate=False),
    ):
        with pytest.raises(SchemaTooNew, match=f"^{message}: upgrade FloKit$"):
            opening()


def test_without_migrating_an_older_schema_is_refused(fresh_url: str) -> None:
    needed = f"this FloKit needs {latest_version()}: run `flokit db migrate`"
    with pytest.raises(SchemaOutOfDate, match=f"^database schema is version 0, {needed}$"):
        PostgresStore(fresh_url, migrate=False)


@pytest.mark.timeout(60)
def test_an_unreachable_server_is_one_line_at_start_and_leaves_nothing_running() -> None:
    before = set(threading.enumerate())
    with pytest.raises(BackendUnreachable) as refused:
        PostgresStore("postgresql://postgres@127.0.0.1:1/flokit")
    message = str(refused.value)
    assert message.startswith("PostgreSQL at 127.0.0.1:1/flokit is unreachable: ")
    assert "\n" not in message
    assert set(threading.enumerate()) <= before  # no pool retrying in the background


# -- duplicates and Idempotency-Keys across connections --------------------------------------


def test_the_same_keys_appended_from_many_connections_are_stored_once(
    store: PostgresStore, pg_url: str, workspace: Workspace
) -> None:
    """8 nodes (a connection each) append 50 batches apiece over 30 insert_ids and 30
    transaction ids: every key is stored once and every duplicate names the event holding it."""
    ws = workspace.id

    def appends(thread: int) -> list[tuple[list[ValidEvent], list[str], Appended]]:
        rng, done = random.Random(thread), []
        pg = PostgresStore(pg_url, pool_size=1, migrate=False)
        try:
            for _ in range(50):
                events = [
                    event(
                        insert_id=f"i{rng.randrange(30)}" if rng.random() < 0.7 else None,
                        txn=f"t{rng.randrange(30)}" if rng.random() < 0.5 else None,
                        name=rng.choice(["purchase", "refund"]),
                    )
                    for _ in range(4)
                ]
                done.append((events, *append(pg, ws, events)))
        finally:
            pg.close()
        return done

    results = [one for done in at_once(8, appends) for one in done]
    kept = stored(store, ws)
    holder = {key: id_ for id_, e in kept.items() for key in duplicate_keys(e) if key}
    assert len(holder) == sum(1 for e in kept.values() for key in duplicate_keys(e) if key)
    assert key_rows(pg_url, ws) == holder  # each key once, naming the event stored with it
    new = set()
    for events, ids, outcome in results:
        assert outcome.rendered is not None
        assert msgspec.json.decode(outcome.rendered.body) == outcome.originals
        for e, id_, original in zip(events, ids, outcome.originals, strict=True):
            txn, ins = duplicate_keys(e)
            if original is None:
                new.add(id_)
            else:  # a stored event that holds one of its keys
                assert original in {holder.get(txn or ""), holder.get(ins or "")} - {None}
    assert new == set(kept)


def test_an_event_that_took_one_key_but_lost_the_other_hands_its_key_on(
    store: PostgresStore, pg_url: str, workspace: Workspace
) -> None:
    ws = workspace.id
    (first,), _ = append(store, ws, [event(txn="T", name="purchase")])
    ids, done = append(
        store,
        ws,
        [
            event(insert_id="I", txn="T", name="purchase"),  # takes I, loses T: a duplicate
            event(insert_id="I"),  # so I is this one's
            event(insert_id="J", txn="T", name="purchase"),  # takes J, loses T: J is no one's
        ],
    )
    assert done.originals == [first, None, first]
    assert key_rows(pg_url, ws) == {"t:purchase\x1fT": first, "i:I": ids[1]}
    assert set(stored(store, ws)) == {first, ids[1]}


def test_an_expired_insert_id_is_free_again_and_pruning_keeps_transaction_keys(
    store: PostgresStore, pg_url: str, workspace: Workspace
) -> None:
    ws = workspace.id
    old, new = new_ids(1), new_ids(2)
    run(store.append(ws, [event(insert_id="p", txn="x")], old, 100, 10, render))  # until 110
    done = run(store.append(ws, [event(insert_id="p"), event(txn="x")], new, 200, 10, render))
    assert done.originals == [None, old[0]]
    assert key_rows(pg_url, ws) == {"i:p": new[0], "t:e\x1fx": old[0]}
    assert run(store.prune_expired(FAR_FUTURE_US)) >= 1
    assert key_rows(pg_url, ws) == {"t:e\x1fx": old[0]}


def test_the_same_idempotency_key_from_two_connections_stores_the_events_once(
    pg_url: str, workspace: Workspace
) -> None:
    """The loser of a race for a key rolls its events back and hands back the winner's
    response. First made to happen for certain (A renders until B has committed), then left to
    the scheduler for twenty rounds of two connections released together."""
    ws = workspace.id
    a, b = (PostgresStore(pg_url, pool_size=2, migrate=False) for _ in range(2))
    try:
        claim = IdempotencyClaim("race-0", b"fingerprint", FAR_FUTURE_US)
        a_rendering, b_done = threading.Event(), threading.Event()

        def slow_render(originals: list[str | None]) -> Rendered:
            a_rendering.set()
            assert b_done.wait(60)
            return render(originals)

        a_ids = new_ids(3)
        a_call = a.append(ws, [event(), event(), event()], a_ids, 1_000, 10**9, slow_render, claim)
        with ThreadPoolExecutor(1) as pool:
            a_result = pool.submit(run, a_call)
            assert a_rendering.wait(60)
            b_ids, b_result = append(b, ws, [event(), event(), event()], claim)
            b_done.set()
            lost = a_result.result()
        assert b_result.rendered is not None and lost.rendered is None and lost.replay
        assert (lost.replay.body, lost.replay.fingerprint) == (
            b_result.rendered.body,
            b"fingerprint",
        )
        assert set(stored(b, ws)) == set(b_ids)

        for round_ in range(1, 21):
            claim = replace(claim, key=f"race-{round_}")
            ids, won, other = race((a, b), ws, [event(), event(insert_id=f"r{round_}")], claim)
            assert other.replay is not None and won.rendered is not None
            assert other.replay.body == won.rendered.body
            assert set(ids) <= set(stored(a, ws))
        assert len(stored(a, ws)) == 3 + 20 * 2  # no round stored its events twice
    finally:
        a.close()
        b.close()


def race(
    stores: tuple[PostgresStore, PostgresStore],
    ws: int,
    events: list[ValidEvent],
    claim: IdempotencyClaim,
) -> tuple[list[str], Appended, Appended]:
    """Both stores append ``events`` with ``claim`` at once: the winner's ids, its outcome and
    the other's (exactly one of them stored its events)."""
    results = at_once(2, lambda i: append(stores[i], ws, events, claim))
    winners = [i for i, (_, done) in enumerate(results) if done.rendered is not None]
    assert len(winners) == 1, results
    (ids, won), (_, other) = results[winners[0]], results[1 - winners[0]]
    return ids, won, other


# -- imports, limits, in-flight markers ------------------------------------------------------


def import_record(workspace_id: int, created_us: int, status: str = "queued") -> ImportRecord:
    return ImportRecord(
        id=f"imp_{secrets.token_hex(8)}",
        workspace_id=workspace_id,
        status=status,
        dry_run=False,
        file_sha256=secrets.token_hex(32),
        file_bytes=1,
        file_name=None,
        duplicate_of=None,
        rows_total=None,
        rows_processed=0,
        accepted=0,
        rejected=0,
        duplicates=0,
        errors=[],
        failure=None,
        phase="store",
        stored_ts=0,
        stored_row=0,
        created_us=created_us,
        started_us=None,
        finished_us=None,
        heartbeat_us=None,
    )


def test_two_nodes_claiming_at_once_never_take_the_same_import(fresh_url: str) -> None:
    nodes = [PostgresStore(fresh_url, pool_size=1) for _ in range(2)]
    try:
        jobs = [import_record(1, created_us=i) for i in range(30)]
        for job in jobs:
            run(nodes[0].create_import(job))
        with psycopg.connect(fresh_url) as other:  # a claim in progress elsewhere: skipped
            other.execute("SELECT 1 FROM imports WHERE id = %s FOR UPDATE", (jobs[0].id,))
            taken = nodes[0].claim_import(now_us=10, stale_before_us=0)
            assert taken is not None and taken.id == jobs[1].id and taken.status == "running"

        def claim_all(i: int) -> list[str]:
            claimed = []
            while (job := nodes[i].claim_import(now_us=10, stale_before_us=0)) is not None:
                claimed.append(job.id)
            return claimed

        claimed = [taken.id, *(id_ for ids in at_once(2, claim_all) for id_ in ids)]
        assert sorted(claimed) == sorted(job.id for job in jobs)  # each once, none left
        assert not nodes[1].has_claimable_import(stale_before_us=0)
    finally:
        for node in nodes:
            node.close()


def test_import_slices_commit_in_order_and_a_gap_is_refused(
    store: PostgresStore, workspace: Workspace
) -> None:
    job = import_record(workspace.id, created_us=1, status="running")
    run(store.create_import(job))
    slices = [
        ([event(insert_id="s1"), event(insert_id="s2")], ((0, 0), (10, 2))),
        ([event(insert_id="s2"), event(insert_id="s3")], ((10, 2), (20, 4))),
        ([event(insert_id="s4")], ((15, 3), (30, 5))),  # its predecessor is not the last one
    ]
    pending = [
        store.submit_import_slice(job, events, new_ids(len(events)), 5, FAR_FUTURE_US, resume)
        for events, resume in slices
    ]
    assert [pending[0].result(), pending[1].result()] == [(2, 0), (1, 1)]
    with pytest.raises(ImportGap):
        pending[2].result()
    store.update_import(job.id, ImportUpdate(status="completed", phase="done"))
    done = store.load_import(job.id)
    assert done is not None and (done.status, done.phase) == ("completed", "done")
    assert (done.accepted, done.duplicates, done.stored_ts, done.stored_row) == (4, 1, 20, 4)
    assert len(stored(store, workspace.id)) == 3


def test_the_limiter_never_admits_more_than_the_bucket_holds(
    pg_url: str, workspace: Workspace
) -> None:
    """Four connections take 160 tokens at one instant (no refill) from a bucket of 25."""
    nodes = [PostgresStore(pg_url, pool_size=1, migrate=False) for _ in range(4)]
    try:
        limiter = PgLimiter(nodes[0])
        fresh = run(limiter.peek(workspace.id, 25, now_s=1000.0))
        assert (fresh.allowed, fresh.remaining) == (True, 25)

        def hammer(i: int) -> list[int]:
            limiter = PgLimiter(nodes[i])
            decisions = [run(limiter.acquire(workspace.id, 25, 1000.0)) for _ in range(40)]
            return [d.remaining for d in decisions if d.allowed]

        admitted = sorted(r for remaining in at_once(4, hammer) for r in remaining)
        assert admitted == list(range(25))  # each token spent once, by one request
        assert run(limiter.peek(workspace.id, 25, now_s=1000.0)).remaining == 0
    finally:
        for node in nodes:
            node.close()


def test_in_flight_markers_are_shared_and_only_their_holder_removes_them(
    store: PostgresStore, workspace: Workspace
) -> None:
    markers, ws = PgInFlight(store, ttl_ms=60_000), workspace.id
    assert run(markers.mark(ws, "k", b"one", "a")) is None
    assert run(markers.mark(ws, "k", b"one", "a")) is None  # its own mark again
    assert run(markers.mark(ws, "k", b"two", "b")) == b"one"
    run(markers.unmark(ws, "k", "b"))  # not b's to remove
    assert run(markers.mark(ws, "k", b"two", "b")) == b"one"
    run(markers.unmark(ws, "k", "a"))
    assert run(markers.mark(ws, "k", b"two", "b")) is None


# -- properties and reads --------------------------------------------------------------------


def test_properties_come_back_byte_for_byte(store: PostgresStore, workspace: Workspace) -> None:
    exact = b'{"a":1.50,"b":"\\u00e9\\n", "c":"' + "é 🎉".encode() + b'"}'  # as received
    events = [msgspec.structs.replace(event(), properties=p) for p in (exact, b"{}", None)]
    ids, _ = append(store, workspace.id, events)
    rows = run(store.query_events(EventQuery(workspace.id)))
    shown = [(r.event_id, r.properties) for r in rows]
    assert shown == [(ids[2], None), (ids[1], "{}"), (ids[0], exact.decode())]
    one = run(store.get_event(workspace.id, ids[0]))
    assert one is not None and one.properties is not None
    assert one.properties.encode() == exact


# -- outages -----------------------------------------------------------------------------------


def test_an_outage_is_503_while_it_lasts_and_the_pool_recovers_by_itself(
    fresh_url: str,
) -> None:
    info = psycopg.conninfo.conninfo_to_dict(fresh_url)
    proxy = Relay((str(info["host"]), int(info.get("port") or 5432)))
    url = psycopg.conninfo.make_conninfo(fresh_url, port=str(proxy.port))
    pg = PostgresStore(url, pool_size=2, busy_timeout_ms=500)
    try:
        workspace, _ = pg.create_workspace("outage")
        proxy.cut()
        with pytest.raises(Unavailable) as refused:
            append(pg, workspace.id, [event()])
        assert refused.value.status == 503 and "Retry-After" in refused.value.headers
        assert "nothing was stored" in refused.value.message
        assert (run(pg.unready_reason()) or "").startswith("postgresql: ")
        proxy.start()
        wait_until(lambda: run(pg.unready_reason()) is None)
        assert append(pg, workspace.id, [event()])[1].originals == [None]
    finally:
        pg.close()
        proxy.cut()


def test_connections_the_server_dropped_are_replaced_unseen(fresh_url: str) -> None:
    pg = PostgresStore(fresh_url, pool_size=4)
    try:
        workspace, _ = pg.create_workspace("restart")
        at_once(4, lambda _: append(pg, workspace.id, [event()]))  # several pooled connections
        with psycopg.connect(fresh_url, autocommit=True) as admin:
            killed = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            killed += " AND application_name = 'flokit'"
            pids = [pid for (pid,) in admin.execute(killed)]
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", (pids,))
            gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s::int[])"
            wait_until(lambda: admin.execute(gone, (pids,)).fetchone() == (0,))
        assert pids and all(o == [None] for _, o in at_once(4, lambda _: outcome(pg, workspace)))
    finally:
        pg.close()


def outcome(pg: PostgresStore, workspace: Workspace) -> tuple[None, list[str | None]]:
    return None, append(pg, workspace.id, [event()])[1].originals


def wait_until(condition: Callable[[], bool], deadline_s: float = 60.0) -> None:
    """Poll a condition that must become true (a liveness check: the deadline is far)."""
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, "never happened"
        time.sleep(0.05)
