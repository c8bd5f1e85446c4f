"""PostgreSQL's full disk (SQLSTATE 53100, ``disk_full``) is the same named 503 as SQLite's, in
a statement or at commit, and /readyz says so until the hold passes. The server raises a real
53100 (PL/pgSQL ``RAISE … USING ERRCODE``): PostgreSQL's own disk is not the test's to fill.
An import job whose working files fill a real (tmpfs) disk is left to resume, on every backend.
The end-to-end test on a full SQLite disk is ``test_e2e_disk_full.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_import_resume import CREATED_S, claim, queue_import, write_upload

from flokit.errors import StorageFull
from flokit.imports.job import ImportJob, ImportPaths
from flokit.pipeline.ids import IdGenerator
from flokit.settings import Settings
from flokit.store import Store
from flokit.store.diskfull import DiskFullWatch
from flokit.store.postgres import PostgresStore
from flokit.store.postgres.connections import Connection

from conftest import fill_disk

FULL = 'could not extend file "base/5/16384": No space left on device'
RAISE_FULL = (
    "CREATE FUNCTION pg_temp.disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    f" RAISE EXCEPTION USING ERRCODE = '53100', MESSAGE = '{FULL}'; END $$"
)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgres_url, pool_size=2)
    yield store
    store.close()


def full_in_a_statement(conn: Connection) -> None:
    conn.execute(f"DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '53100', MESSAGE = '{FULL}'; END $$")


def full_at_commit(conn: Connection) -> None:
    """A deferred constraint trigger that fails as the transaction commits."""
    conn.execute("CREATE TEMP TABLE probe (x int) ON COMMIT DROP")
    conn.execute(RAISE_FULL)
    conn.execute(
        "CREATE CONSTRAINT TRIGGER disk_full AFTER INSERT ON probe DEFERRABLE INITIALLY DEFERRED"
        " FOR EACH ROW EXECUTE FUNCTION pg_temp.disk_full()"
    )
    conn.execute("INSERT INTO probe VALUES (1)")


@pytest.mark.parametrize("work", [full_in_a_statement, full_at_commit], ids=["statement", "commit"])
def test_postgres_disk_full_is_a_named_503_and_unready(pg: PostgresStore, work: object) -> None:
    assert asyncio.run(pg.unready_reason()) is None
    with pytest.raises(StorageFull) as raised:
        pg.transact(work)  # type: ignore[arg-type]
    error = raised.value
    assert error.status == 503 and error.error == "unavailable"
    assert int(error.headers["Retry-After"]) >= 1
    assert "the disk is full" in error.message and "nothing was stored" in error.message
    assert "may have been stored" not in error.message  # a 53100 rolled everything back
    reason = asyncio.run(pg.unready_reason())
    assert reason is not None and "disk full" in reason and "No space left" in reason


def test_a_watch_without_a_directory_forgets_after_its_hold() -> None:
    """PostgreSQL's disk is not ours to look at: unready for ``hold_s`` after the last failure,
    then ready again, so traffic comes back to find out (a node kept out forever never would)."""
    now = [100.0]
    watch = DiskFullWatch("postgresql", hold_s=10.0, clock=lambda: now[0])
    watch.failed(OSError(28, "No space left on device"))
    now[0] += 9.0
    assert watch.reason() is not None
    now[0] += 1.0
    assert watch.reason() is None
    watch.failed(OSError(28, "No space left on device"))
    watch.succeeded()
    assert watch.reason() is None


def test_an_import_whose_files_fill_the_disk_resumes_instead_of_failing(
    store: Store, settings: Settings, small_disk: Path
) -> None:
    """The job's working files (sorted runs, duplicate keys) live on the imports disk: when it
    is full the job stops, left to resume, never failed; with space back it completes."""
    ws, _ = store.create_workspace("full imports")
    paths = ImportPaths(small_disk / "imports")
    valid, rejected = write_upload(paths.upload("imp_r"))
    queued = queue_import(store, ws, paths.upload("imp_r"))
    filler = small_disk / "filler"
    fill_disk(filler)

    clock = CREATED_S + 1.0
    ImportJob(claim(store, clock), store, settings, IdGenerator(), paths, lambda: clock).run()
    stopped = store.load_import(queued.id)
    assert stopped is not None and stopped.status == "running", stopped  # left to resume

    filler.unlink()
    later = clock + settings.import_stale_seconds + 1
    ImportJob(claim(store, later), store, settings, IdGenerator(), paths, lambda: later).run()
    done = store.load_import(queued.id)
    assert done is not None and done.status == "completed", done
    assert (done.accepted, done.rejected) == (valid, rejected)
