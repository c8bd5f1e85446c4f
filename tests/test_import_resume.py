"""An import resumed by another node (on every backend): the store phase died part-way, and a
node with none of the job's files, another clock and another number of cores validates the
upload again and stores the rest, each row once. And the files a node tidies away."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from test_store_contract import record, run

from flokit.imports import job as import_job
from flokit.imports.job import START, ImportJob, ImportPaths
from flokit.imports.leftovers import remove_ended
from flokit.model import EventQuery, ImportRecord, Workspace
from flokit.pipeline.ids import IdGenerator
from flokit.settings import Settings
from flokit.store import Store
from flokit.store.contract import ImportUpdate

CREATED_S = 1_711_929_600  # 2024-04-01T00:00:00Z: the upload
ROWS, BAD_EVERY = 3_000, 50
#: Rows 25 hours after the upload: too far in the future then, not three days later.
LATE_EVERY = 70


class Died(BaseException):
    """The node's process ends here, like a kill -9: the job records nothing more."""


class DiesAfterSlices:
    """The store, as seen by a node that dies when it submits its ``slices + 1``-th slice."""

    def __init__(self, store: Store, slices: int) -> None:
        self.store, self.left = store, slices

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def submit_import_slice(self, *args: Any) -> Any:
        if self.left == 0:
            raise Died
        self.left -= 1
        return self.store.submit_import_slice(*args)


def write_upload(path: Path) -> tuple[int, int]:
    """Rows out of timestamp order, some bad, some late: (valid, rejected)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    valid = 0
    with path.open("w") as out:
        out.write("event,timestamp,user_id,properties.paywall_id\n")
        for i in range(ROWS):
            stamp = f"2024-03-{1 + (i * 7919) % 28:02d}T{(i * 31) % 24:02d}:00:00Z"
            if i % BAD_EVERY == 0:
                stamp = "yesterday"
            elif i % LATE_EVERY == 0:
                stamp = "2024-04-02T01:00:00Z"
            else:
                valid += 1
            out.write(f"paywall_viewed,{stamp},user{i},pw\n")
    return valid, ROWS - valid


def queue_import(store: Store, ws: Workspace, upload: Path) -> ImportRecord:
    """What the upload handler does: keep the file, then record the import."""
    sha, size = hashlib.sha256(upload.read_bytes()).hexdigest(), upload.stat().st_size
    queued = record(ws, "imp_r", CREATED_S * 10**6, file_sha256=sha, file_bytes=size)
    run(store.keep_import_file(queued.id, upload))
    run(store.create_import(queued))
    return queued


def claim(store: Store, now_s: float) -> ImportRecord:
    claimed = store.claim_import(int(now_s * 1e6), stale_before_us=int(now_s * 1e6))
    assert claimed is not None
    return claimed


def stored_users(store: Store, ws: Workspace) -> list[str]:
    users: list[str] = []
    before = None
    while page := run(store.query_events(EventQuery(ws.id, limit=1000, before_seq=before))):
        users += [e.user_id or "" for e in page]
        before = page[-1].seq
    return users


def test_another_node_validates_again_and_stores_the_rest_once(
    store: Store, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings.replace(import_parallel_min_bytes=1)  # two shares
    monkeypatch.setattr(import_job, "COMMIT_ROWS", 200)
    ws, _ = store.create_workspace("resume")
    first, second = ImportPaths(tmp_path / "node1"), ImportPaths(tmp_path / "node2")
    valid, rejected = write_upload(first.upload("imp_r"))
    queued = queue_import(store, ws, first.upload("imp_r"))

    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    clock = CREATED_S + 1.0
    dying_store: Any = DiesAfterSlices(store, 3)
    dying = ImportJob(
        claim(store, clock), dying_store, settings, IdGenerator(), first, lambda: clock
    )
    with pytest.raises(Died):
        dying.run()
    store.update_import(queued.id, ImportUpdate(heartbeat_us=int(clock * 1e6)))  # slices landed
    halfway = store.load_import(queued.id)
    assert halfway is not None and (halfway.phase, halfway.accepted) == ("store", 600), halfway
    assert halfway.rejected == rejected and halfway.stored_ts != START

    second.root.mkdir()
    if store.backend == "sqlite":  # one machine: every process sees the upload where it came
        shutil.copy(first.upload("imp_r"), second.upload("imp_r"))
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    later = CREATED_S + 3 * 86_400.0
    ImportJob(claim(store, later), store, settings, IdGenerator(), second, lambda: later).run()

    done = store.load_import(queued.id)
    assert done is not None and done.status == "completed", done
    assert (done.accepted, done.rejected, done.duplicates) == (valid, rejected, 0)
    users = stored_users(store, ws)
    assert len(users) == len(set(users)) == valid
    assert [p.name for p in second.root.iterdir()] == ["imp_r.errors.csv"]
    assert not store.restore_import_file(queued.id, tmp_path / "elsewhere.csv")


def test_a_node_removes_the_files_of_imports_that_ended_elsewhere(
    store: Store, tmp_path: Path
) -> None:
    ws, _ = store.create_workspace("tidy")
    paths = ImportPaths(tmp_path / "imports")
    paths.root.mkdir()
    statuses = {"imp_done": "completed", "imp_bad": "failed", "imp_on": "running"}
    for import_id, status in statuses.items():
        run(store.create_import(record(ws, import_id, 1, status=status)))
    names = [
        f"{import_id}.{suffix}"
        for import_id in [*statuses, "imp_new"]  # imp_new: being received, not recorded yet
        for suffix in ("csv", "shares.json", "sorted.0", "csv.fetching", "errors.csv")
    ]
    for name in names:
        (paths.root / name).write_text("x")
    assert remove_ended(paths, store) == 8
    left = sorted(p.name for p in paths.root.iterdir())
    ended = {"imp_done", "imp_bad"}
    assert left == sorted(n for n in names if n.split(".")[0] not in ended or "errors" in n)
