"""The storage contract, one suite for every backend (the ``store`` fixture runs each test on
SQLite and on PostgreSQL): events and their duplicate keys, idempotency responses, keys and
workspaces, import jobs. What a backend does beyond the contract is tested beside it."""

from __future__ import annotations

import asyncio
import random
import tracemalloc
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from readmodels import project_all

from flokit.imports.job import START
from flokit.model import (
    EventQuery,
    IdempotencyClaim,
    ImportRecord,
    KeyKind,
    Rendered,
    ValidEvent,
    Workspace,
)
from flokit.store import Store
from flokit.store.contract import ImportUpdate
from flokit.store.readmodel_queries import ReadQueries

T = TypeVar("T")
DAY_US = 86_400 * 1_000_000


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def valid(
    i: int, *, insert_id: str | None = None, txn: str | None = None, event: str = "custom"
) -> ValidEvent:
    return ValidEvent(
        event, f"u{i}", None, 1_700_000_000_000_000 + i, b'{"i":%d}' % i, insert_id, txn
    )


def evt(n: int) -> str:
    return f"evt_{n:022d}"


def no_body(originals: list[str | None]) -> Rendered:
    return Rendered(b"", {})


async def append(
    store: Store,
    workspace: Workspace,
    events: list[ValidEvent],
    first_id: int,
    received_us: int = 1_000,
    retention_us: int = DAY_US,
) -> list[str | None]:
    ids = [evt(first_id + i) for i in range(len(events))]
    done = await store.append(workspace.id, events, ids, received_us, retention_us, no_body)
    return done.originals


@pytest.fixture
def ws(store: Store) -> Workspace:
    workspace, _ = store.create_workspace("contract")
    return workspace


def stored_ids(store: Store, workspace: Workspace) -> list[str]:
    events = run(store.query_events(EventQuery(workspace.id, limit=1000)))
    return [e.event_id for e in events]


# -- events and duplicates -------------------------------------------------------------------


def test_appended_events_read_back_newest_first_byte_for_byte(store: Store, ws: Workspace) -> None:
    props = b'{"z":1,"a":[1,2.50,"\\u00e9"]}'
    event = ValidEvent("paywall_viewed", "u1", "a1", 1_700_000_000_000_001, props, "ins", None)
    run(append(store, ws, [valid(0), event], 1))
    newest, oldest = run(store.query_events(EventQuery(ws.id)))
    assert (newest.event_id, oldest.event_id) == (evt(2), evt(1))
    assert newest.properties == props.decode() and newest.anonymous_id == "a1"
    assert newest.received_us == 1_000 and newest.timestamp_us == 1_700_000_000_000_001
    assert run(store.get_event(ws.id, evt(2))) == newest
    assert run(store.get_event(ws.id + 1, evt(2))) is None  # another workspace's view


def test_duplicates_by_insert_id_and_transaction_id_within_and_across_batches(
    store: Store, ws: Workspace
) -> None:
    first = [valid(0, insert_id="a"), valid(1, txn="t1", event="renewal"), valid(2, insert_id="a")]
    assert run(append(store, ws, first, 1)) == [None, None, evt(1)]
    again = [valid(3, txn="t1", event="renewal"), valid(4, insert_id="a"), valid(5, insert_id="b")]
    assert run(append(store, ws, again, 10)) == [evt(2), evt(1), None]
    assert sorted(stored_ids(store, ws)) == [evt(1), evt(2), evt(12)]


def test_a_refund_may_share_its_purchase_transaction_id(store: Store, ws: Workspace) -> None:
    events = [valid(0, txn="t", event="renewal"), valid(1, txn="t", event="refund_issued")]
    assert run(append(store, ws, events, 1)) == [None, None]


def test_an_event_that_repeats_one_key_claims_none_of_its_others(
    store: Store, ws: Workspace
) -> None:
    run(append(store, ws, [valid(0, insert_id="a")], 1))
    both = valid(1, insert_id="a", txn="t", event="renewal")
    later = valid(2, txn="t", event="renewal")
    assert run(append(store, ws, [both, later], 10)) == [evt(1), None]
    assert run(append(store, ws, [valid(3, txn="t", event="renewal")], 20)) == [evt(11)]


def test_duplicate_keys_belong_to_their_workspace(store: Store, ws: Workspace) -> None:
    other, _ = store.create_workspace("other")
    run(append(store, ws, [valid(0, insert_id="a")], 1))
    assert run(append(store, other, [valid(0, insert_id="a")], 10)) == [None]


def test_insert_ids_expire_and_transaction_ids_never_do(store: Store, ws: Workspace) -> None:
    """An insert_id is remembered at least its retention, and forgotten once pruned."""
    events = [valid(0, insert_id="a"), valid(1, txn="t", event="renewal")]
    run(append(store, ws, events, 1, received_us=100, retention_us=50))
    run(store.prune_expired(now_us=10_000))
    later = [valid(2, insert_id="a"), valid(3, txn="t", event="renewal")]
    assert run(append(store, ws, later, 10, received_us=10_000)) == [None, evt(2)]


def test_pruning_forgets_expired_keys_only(store: Store, ws: Workspace) -> None:
    run(append(store, ws, [valid(0, insert_id="a"), valid(1, insert_id="b")], 1, 100, 50))
    run(append(store, ws, [valid(2, insert_id="c")], 10, 100, 10**12))
    assert run(store.prune_expired(now_us=1_000)) == 2
    assert store.find_duplicate_keys(ws.id, ["i:a", "i:b", "i:c"]) == {"i:c": evt(10)}


def test_concurrent_appends_of_one_key_store_it_once(store: Store, ws: Workspace) -> None:
    async def race() -> list[list[str | None]]:
        return await asyncio.gather(
            *(append(store, ws, [valid(n, insert_id="same")], 100 * n) for n in range(1, 9))
        )

    outcomes = [found for batch in run(race()) for found in batch]
    winners = stored_ids(store, ws)
    assert len(winners) == 1 and outcomes.count(None) == 1
    assert all(found in (None, winners[0]) for found in outcomes)


def test_paging_by_seq_with_filters(store: Store, ws: Workspace) -> None:
    run(append(store, ws, [valid(n, event="a" if n % 2 else "b") for n in range(7)], 1))
    page = run(store.query_events(EventQuery(ws.id, limit=2, event="a")))
    assert [e.event_id for e in page] == [evt(6), evt(4)]
    rest = run(store.query_events(EventQuery(ws.id, limit=5, event="a", before_seq=page[-1].seq)))
    assert [e.event_id for e in rest] == [evt(2)]
    timed = EventQuery(ws.id, since_us=1_700_000_000_000_002, until_us=1_700_000_000_000_004)
    assert [e.event_id for e in run(store.query_events(timed))] == [evt(4), evt(3)]
    assert [e.event_id for e in run(store.query_events(EventQuery(ws.id, user_id="u3")))] == [
        evt(4)
    ]


# -- idempotency -----------------------------------------------------------------------------


def test_a_kept_response_is_replayed_and_stores_nothing(store: Store, ws: Workspace) -> None:
    claim = IdempotencyClaim("k1", b"f" * 32, 10**15)

    def render(originals: list[str | None]) -> Rendered:
        return Rendered(b'{"n":%d}' % len(originals), {"FloKit-Rejected": "1"})

    done = run(store.append(ws.id, [valid(0)], [evt(1)], 1_000, DAY_US, render, claim))
    assert done.rendered == Rendered(b'{"n":1}', {"FloKit-Rejected": "1"})
    kept = run(store.find_response(ws.id, "k1", 2_000))
    assert kept is not None
    assert (kept.fingerprint, kept.status, kept.body, kept.headers) == (
        b"f" * 32,
        200,
        b'{"n":1}',
        {"FloKit-Rejected": "1"},
    )
    again = run(store.append(ws.id, [valid(1)], [evt(2)], 3_000, DAY_US, render, claim))
    assert again.replay == kept and again.rendered is None
    assert stored_ids(store, ws) == [evt(1)]
    assert run(store.find_response(ws.id, "k1", 10**15 + 1)) is None  # expired
    assert run(store.find_response(ws.id + 1, "k1", 2_000)) is None  # another workspace's


# -- workspaces and keys ---------------------------------------------------------------------


def test_keys_are_found_by_hash_until_revoked_or_rotated(store: Store, ws: Workspace) -> None:
    from flokit.keys import hash_secret

    issued = store.create_key(ws, KeyKind.READ_ONLY)
    found = run(store.find_key(hash_secret(issued.secret)))
    assert found is not None and (found.kind, found.workspace_public_id) == (
        KeyKind.READ_ONLY,
        ws.public_id,
    )
    rotated = store.rotate_key(issued.key.key_id)
    assert rotated is not None and rotated.key.kind is KeyKind.READ_ONLY
    assert run(store.find_key(hash_secret(issued.secret))) is None
    assert run(store.find_key(hash_secret(rotated.secret))) is not None
    assert store.revoke_key(rotated.key.key_id) is not None
    assert store.revoke_key(rotated.key.key_id) is None  # no longer live
    assert run(store.find_key(hash_secret(rotated.secret))) is None
    assert [k.revoked_us is not None for k in store.list_keys(ws)] == [False, True, True]


def test_workspaces_and_their_limits(store: Store, ws: Workspace) -> None:
    from flokit.keys import hash_secret

    other, issued = store.create_workspace("other")
    assert store.count_workspaces() == 2 and other.id != ws.id
    assert store.find_workspace(other.public_id) == other
    assert store.find_workspace("ws_missing") is None
    store.set_workspace_limit(other, 7)
    key = run(store.find_key(hash_secret(issued.secret)))
    assert key is not None and key.requests_per_minute == 7
    store.set_workspace_limit(other, None)
    key = run(store.find_key(hash_secret(issued.secret)))
    assert key is not None and key.requests_per_minute is None


# -- imports ---------------------------------------------------------------------------------


def record(workspace: Workspace, import_id: str, created_us: int, **fields: Any) -> ImportRecord:
    base = ImportRecord(
        import_id, workspace.id, "queued", False, "sha", 1, "f.csv", None, None, 0, 0, 0, 0, [],
        None, "validate", START, 0, created_us, None, None, None,
    )  # fmt: skip
    return replace(base, **fields)


def test_imports_list_newest_first_with_ties_by_id(store: Store, ws: Workspace) -> None:
    for import_id, created in [("imp_a", 5), ("imp_b", 5), ("imp_c", 9), ("imp_d", 1)]:
        run(store.create_import(record(ws, import_id, created)))
    first = run(store.list_imports(ws.id, 2))
    assert [r.id for r in first] == ["imp_c", "imp_b"]
    rest = run(store.list_imports(ws.id, 5, (first[-1].created_us, first[-1].id)))
    assert [r.id for r in rest] == ["imp_a", "imp_d"]
    assert run(store.get_import(ws.id, "imp_a")) == record(ws, "imp_a", 5)
    assert run(store.get_import(ws.id + 1, "imp_a")) is None


def test_same_file_is_an_earlier_real_import_that_did_not_fail(store: Store, ws: Workspace) -> None:
    run(store.create_import(record(ws, "imp_dry", 1, dry_run=True)))
    run(store.create_import(record(ws, "imp_bad", 2, status="failed")))
    assert run(store.find_same_file(ws.id, "sha")) is None
    run(store.create_import(record(ws, "imp_ok", 3)))
    found = run(store.find_same_file(ws.id, "sha"))
    assert found is not None and found.id == "imp_ok"


def test_claims_take_the_oldest_queued_then_stale_running_jobs(store: Store, ws: Workspace) -> None:
    run(store.create_import(record(ws, "imp_new", 20)))
    run(store.create_import(record(ws, "imp_old", 10)))
    assert store.has_claimable_import(stale_before_us=0)
    first = store.claim_import(now_us=100, stale_before_us=0)
    second = store.claim_import(now_us=100, stale_before_us=0)
    assert (first and first.id, second and second.id) == ("imp_old", "imp_new")
    assert first is not None and (first.status, first.heartbeat_us, first.started_us) == (
        "running",
        100,
        100,
    )
    assert store.claim_import(now_us=150, stale_before_us=50) is None  # beating recently
    assert not store.has_claimable_import(stale_before_us=50)
    stale = store.claim_import(now_us=500, stale_before_us=200)
    assert stale is not None and stale.id == "imp_old" and stale.started_us == 100


def test_updates_change_only_what_they_name(store: Store, ws: Workspace) -> None:
    run(store.create_import(record(ws, "imp_u", 1)))
    errors: list[dict[str, object]] = [{"row": 2, "event": "x", "reason": "bad"}]
    store.update_import("imp_u", ImportUpdate(phase="store", rejected=1, errors=errors))
    store.update_import("imp_u", ImportUpdate(status="completed", finished_us=9))
    expected = record(
        ws, "imp_u", 1, phase="store", rejected=1, errors=errors, status="completed", finished_us=9
    )
    assert store.load_import("imp_u") == expected


def test_slices_queued_ahead_commit_in_order_and_a_gap_is_refused(
    store: Store, ws: Workspace
) -> None:
    job = record(ws, "imp_s", 1, status="running", phase="store")
    run(store.create_import(job))
    first = store.submit_import_slice(
        job, [valid(1), valid(2, insert_id="x")], [evt(1), evt(2)], 5, DAY_US, ((START, 0), (10, 2))
    )
    second = store.submit_import_slice(
        job, [valid(3, insert_id="x")], [evt(3)], 5, DAY_US, ((10, 2), (11, 3))
    )
    assert (first.result(), second.result()) == ((2, 0), (0, 1))
    gap = store.submit_import_slice(job, [valid(4)], [evt(4)], 5, DAY_US, ((99, 9), (12, 4)))
    with pytest.raises(Exception, match="not stored"):
        gap.result()
    after = store.load_import("imp_s")
    assert after is not None
    assert (after.stored_ts, after.stored_row, after.accepted, after.duplicates) == (11, 3, 3, 1)
    assert sorted(stored_ids(store, ws)) == [evt(1), evt(2)]  # the refused slice left nothing


# -- import uploads --------------------------------------------------------------------------

MIB = 1 << 20


def upload_at(path: Path, size: int) -> bytes:
    """A file of ``size`` random bytes at ``path`` (its folder made): what a node received."""
    data = random.Random(size).randbytes(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def test_a_kept_upload_is_restored_byte_for_byte_where_it_is(store: Store, tmp_path: Path) -> None:
    here = tmp_path / "node1" / "imp_k.csv"
    data = upload_at(here, 2 * MIB + 123)  # chunks of 1 MiB, the last one short
    run(store.keep_import_file("imp_k", here))
    assert store.restore_import_file("imp_k", here) and here.read_bytes() == data


def test_a_node_without_the_upload_fetches_it_whole(store: Store, tmp_path: Path) -> None:
    """What a node with an empty imports directory gets: the kept file, byte for byte, from a
    store several machines share; from SQLite, whose processes all see the one directory the
    upload was received in, nothing (there is nowhere else it could be)."""
    data = upload_at(tmp_path / "node1" / "imp_k.csv", 3 * MIB)
    run(store.keep_import_file("imp_k", tmp_path / "node1" / "imp_k.csv"))
    elsewhere = tmp_path / "node2" / "imp_k.csv"
    elsewhere.parent.mkdir()
    shared_by_machines = store.backend != "sqlite"
    assert store.restore_import_file("imp_k", elsewhere) is shared_by_machines
    if shared_by_machines:
        assert elsewhere.read_bytes() == data
    assert [p.name for p in elsewhere.parent.iterdir()] == ["imp_k.csv"] * shared_by_machines


def test_a_forgotten_upload_is_fetched_nowhere(store: Store, tmp_path: Path) -> None:
    kept = {name: upload_at(tmp_path / "node1" / f"{name}.csv", MIB + 1) for name in ("a", "b")}
    for name in kept:
        run(store.keep_import_file(f"imp_{name}", tmp_path / "node1" / f"{name}.csv"))
    store.forget_import_file("imp_a")
    store.forget_import_file("imp_a")  # again: nothing left to forget is no error
    node2 = tmp_path / "node2"
    node2.mkdir()
    assert not store.restore_import_file("imp_a", node2 / "a.csv")
    assert list(node2.iterdir()) == []  # not even part of it
    if store.backend != "sqlite":  # the other import's upload is still kept
        assert store.restore_import_file("imp_b", node2 / "b.csv")
        assert (node2 / "b.csv").read_bytes() == kept["b"]


def test_keeping_and_fetching_an_upload_never_hold_it_in_memory(
    store: Store, tmp_path: Path
) -> None:
    size = 24 * MIB
    upload_at(tmp_path / "node1" / "imp_m.csv", size)
    tracemalloc.start()
    try:
        run(store.keep_import_file("imp_m", tmp_path / "node1" / "imp_m.csv"))
        (tmp_path / "node2").mkdir()
        store.restore_import_file("imp_m", tmp_path / "node2" / "imp_m.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size // 4, peak


# -- read models -----------------------------------------------------------------------------


def test_a_pair_of_read_model_works_answers_at_one_checkpoint(store: Store, ws: Workspace) -> None:
    """Both works see the projection at the checkpoint they report, and answer what one read
    there answers (SQLite runs them on two connections, PostgreSQL in one snapshot)."""
    run(append(store, ws, [valid(i) for i in range(30)], 0))
    project_all(store)

    def people(q: ReadQueries) -> list[tuple[Any, ...]]:
        return q.rows("SELECT key FROM people WHERE workspace_id = ? ORDER BY key", ws.id)

    def index(q: ReadQueries) -> list[tuple[Any, ...]]:
        return q.rows("SELECT count(*) FROM event_index WHERE workspace_id = ?", ws.id)

    as_of, found_people, found_index = run(store.read_models_pair(people, index))
    alone = run(store.read_models(lambda q, at: (at, people(q), index(q))))
    assert (as_of, found_people, found_index) == alone
    assert len(found_people) == 30 and found_index == [(60,)]  # u: and e: rows per event
    assert as_of == max(e.seq for e in run(store.query_events(EventQuery(ws.id, limit=100))))
