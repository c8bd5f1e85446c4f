"""The SQLite store on real files: group commit, durability, isolation of failing jobs, 503s."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from flokit.app import build_app
from flokit.errors import Unavailable
from flokit.model import ImportRecord, Rendered, ValidEvent
from flokit.settings import Settings
from flokit.store.sqlite import SqliteStore

from conftest import event


def valid(i: int) -> ValidEvent:
    return ValidEvent(
        "custom", f"u{i}", None, 1_700_000_000_000_000, b'{"i":%d}' % i, f"ins{i}", None
    )


def no_body(originals: list[str | None]) -> Rendered:
    return Rendered(b"", {})


async def append(
    store: SqliteStore,
    events: list[ValidEvent],
    ids: list[str],
    received_us: int,
    retention_us: int,
) -> list[str | None]:
    """Append with no response to keep: per event, the original's id if a duplicate."""
    done = await store.append(1, events, ids, received_us, retention_us, no_body)
    return done.originals


def count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])


def test_concurrent_requests_share_commits_and_each_is_durable_when_answered(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "s.db")
    durable_on_return: list[bool] = []

    async def one(i: int) -> None:
        await append(store, [valid(i)], [f"evt_{i:020d}"], 1, 10**12)
        with sqlite3.connect(store.path) as reader:  # another connection sees it: committed
            found = reader.execute("SELECT 1 FROM events WHERE event_id = ?", (f"evt_{i:020d}",))
            durable_on_return.append(found.fetchone() is not None)

    async def all_of_them() -> None:
        await asyncio.gather(*(one(i) for i in range(200)))

    asyncio.run(all_of_them())
    commits = store.commits
    store.close()
    assert durable_on_return == [True] * 200
    assert count(store.path) == 200
    assert commits < 200, "group commit should put several requests in one transaction"


def test_a_failing_job_is_rolled_back_alone(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO events (workspace_id, event_id, event, timestamp_us, received_us)"
            " VALUES (1, 'evt_broken', 'x', 1, 1)"
        )
        raise ValueError("job failure")

    async def both() -> list[object]:
        good = append(store, [valid(1)], ["evt_00000000000000000001"], 1, 10**12)
        bad = store.write(broken)
        return await asyncio.gather(good, bad, return_exceptions=True)

    good, bad = asyncio.run(both())
    store.close()
    assert good == [None] and isinstance(bad, ValueError)
    assert count(store.path) == 1


def test_insert_id_duplicates_survive_a_restart(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    asyncio.run(append(store, [valid(1)], ["evt_00000000000000000001"], 1, 10**12))
    store.close()
    reopened = SqliteStore(tmp_path / "s.db")
    again = asyncio.run(append(reopened, [valid(1)], ["evt_00000000000000000002"], 2, 10**12))
    reopened.close()
    assert again == ["evt_00000000000000000001"]


def test_expired_insert_ids_are_pruned(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    asyncio.run(append(store, [valid(1), valid(2)], ["evt_1", "evt_2"], 100, 50))
    pruned = asyncio.run(store.prune_expired(now_us=1000))
    again = asyncio.run(append(store, [valid(1)], ["evt_3"], 2000, 50))
    store.close()
    assert pruned == 2 and again == [None]


def test_locked_database_answers_503_and_stores_nothing(tmp_path: Path) -> None:
    settings = Settings(db=str(tmp_path / "s.db"), busy_timeout_ms=100, log_requests=False)
    store = SqliteStore(settings.sqlite_path, busy_timeout_ms=settings.busy_timeout_ms)
    _, issued = store.create_workspace("w")
    headers = {"Authorization": f"Bearer {issued.secret}", "Content-Type": "application/json"}
    blocker = sqlite3.connect(settings.sqlite_path, isolation_level=None)
    try:
        with TestClient(build_app(settings, store=store)) as client:
            blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
            refused = client.post("/v1/batch/events", json={"events": [event()]}, headers=headers)
            blocker.execute("ROLLBACK")
            recovered = client.post("/v1/batch/events", json={"events": [event()]}, headers=headers)
    finally:
        blocker.close()
        store.close()
    assert refused.status_code == 503
    assert refused.json()["error"] == "unavailable" and refused.headers["Retry-After"] == "1"
    assert recovered.status_code == 200
    assert count(settings.sqlite_path) == 1


def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.close()
    store.close()  # idempotent
    with pytest.raises(Unavailable):
        asyncio.run(append(store, [valid(1)], ["evt_1"], 1, 1))


def test_a_request_waiting_on_another_process_lock_is_withdrawn_with_503(tmp_path: Path) -> None:
    import fcntl
    import os

    store = SqliteStore(tmp_path / "s.db", busy_timeout_ms=200)
    lock = os.open(tmp_path / "s.db.writelock", os.O_RDWR)
    fcntl.flock(lock, fcntl.LOCK_EX)  # another worker process is committing
    try:
        with pytest.raises(Unavailable):
            asyncio.run(append(store, [valid(1)], ["evt_1"], 1, 10**12))
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    later = asyncio.run(append(store, [valid(2)], ["evt_2"], 1, 10**12))
    store.close()
    assert later == [None]
    assert count(store.path) == 1  # the withdrawn request never ran


def test_import_slices_queued_ahead_commit_in_order_and_a_gap_is_refused(tmp_path: Path) -> None:
    from flokit.imports.job import START
    from flokit.store.contract import ImportGap

    store = SqliteStore(tmp_path / "s.db")
    workspace, _ = store.create_workspace("w")
    record = ImportRecord(
        "imp_t", workspace.id, "running", False, "sha", 1, None, None, None, 0, 0, 0, 0, [],
        None, "store", START, 0, 1, 1, None, 1,
    )  # fmt: skip
    asyncio.run(store.create_import(record))
    first = store.submit_import_slice(
        record, [valid(1), valid(2)], ["evt_1", "evt_2"], 5, 10**12, ((START, 0), (10, 2))
    )
    second = store.submit_import_slice(
        record, [valid(3)], ["evt_3"], 5, 10**12, ((10, 2), (11, 3))
    )  # queued before the first has committed
    assert (first.result(), second.result()) == ((2, 0), (1, 0))
    gap = store.submit_import_slice(record, [valid(4)], ["evt_4"], 5, 10**12, ((99, 9), (12, 4)))
    with pytest.raises(ImportGap):
        gap.result()
    after = store.load_import("imp_t")
    store.close()
    assert after is not None and (after.stored_ts, after.stored_row, after.accepted) == (11, 3, 3)
    assert count(store.path) == 3  # the refused slice left nothing behind


@given(count=st.integers(0, 5000))
def test_insert_statements_cover_every_row_in_order_with_few_distinct_sizes(count: int) -> None:
    """Each distinct statement is a prepared statement kept in the connection's cache, so
    batches of every size must share a dozen statement texts."""
    from flokit.store.sqlite_events import _values_statements

    values = [v for i in range(count) for v in (i, f"r{i}")]
    statements = _values_statements("t", "a, b", "(?,?)", values)
    assert [v for _, part in statements for v in part] == values
    assert all(sql.count("?") == len(part) for sql, part in statements)
    sizes = {len(values) // 2 for _, values in statements}
    assert sizes <= {1000} | {1 << k for k in range(10)}


def test_statements_compiled_at_start_leave_no_rows(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    stored = asyncio.run(append(store, [valid(1)], ["evt_1"], 1, 10**12))
    store.close()
    with sqlite3.connect(store.path) as conn:
        leftovers = conn.execute(
            "SELECT (SELECT count(*) FROM events WHERE event = 'compile'),"
            " (SELECT count(*) FROM dedup_keys WHERE event_id = 'compile')"
        ).fetchone()
    assert stored == [None] and leftovers == (0, 0) and count(store.path) == 1


def test_only_a_transaction_of_import_slices_alone_skips_its_fsync(tmp_path: Path) -> None:
    """Jobs submitted as not durable commit with synchronous=NORMAL, unless a durable job
    shares their transaction: then the whole group is fsync'd before anyone is answered."""
    import threading

    from flokit.store.sqlite_schema import connect
    from flokit.store.sqlite_writer import GroupCommitWriter

    writer = GroupCommitWriter(
        connect(tmp_path / "w.db", busy_timeout_ms=1000, writer=True), max_jobs=10, max_rows=100
    )
    release = threading.Event()

    def level(conn: sqlite3.Connection) -> int:
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])  # 1 NORMAL, 2 FULL

    alone = writer.submit(level, durable=False).result()
    blocker = writer.submit(lambda conn: release.wait(10), durable=False)
    grouped = [writer.submit(level, durable=False), writer.submit(level)]  # queued together
    release.set()
    blocker.result()
    after = writer.submit(level).result()
    writer.close()
    assert (alone, [g.result() for g in grouped], after) == (1, [2, 2], 2)


def test_properties_are_stored_as_text_byte_for_byte(tmp_path: Path) -> None:
    """Properties are bound as UTF-8 bytes and cast to text by SQLite: what the readers and
    any other tool see is the JSON text, unchanged."""
    text = '{"name":"Zoë 🍕","escaped":"\\u0000\\"","n":1e400}'
    stored = ValidEvent("custom", "u", None, 1, text.encode(), None, None)
    store = SqliteStore(tmp_path / "s.db")
    asyncio.run(append(store, [stored, valid(2)], ["evt_1", "evt_2"], 1, 10**12))
    store.close()
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT typeof(properties), properties FROM events ORDER BY seq")
        assert rows.fetchall() == [("text", text), ("text", '{"i":2}')]
