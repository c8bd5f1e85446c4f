"""Nothing a request waits for blocks the event loop: while one request's rate-limit decision
is held up (its bucket locked by another connection), other requests are answered at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx

from flokit.settings import Settings

from conftest import Api, event

HEALTHZ_BUDGET_S = 0.050


@contextmanager
def bucket_locked(settings: Settings, workspace_id: int) -> Iterator[None]:
    """Hold the lock a rate-limit decision needs, from another connection."""
    if settings.postgres_url is not None:
        import psycopg

        with psycopg.connect(settings.postgres_url) as conn:
            conn.execute(
                "INSERT INTO rate_buckets VALUES (%s, 100, 0, 100) ON CONFLICT DO NOTHING",
                (workspace_id,),
            )
            conn.commit()
            conn.execute(
                "SELECT 1 FROM rate_buckets WHERE workspace_id = %s FOR UPDATE", (workspace_id,)
            )
            yield
            conn.rollback()
        return
    path = settings.sqlite_path
    conn = sqlite3.connect(path.with_name(path.name + ".limits"), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def in_thread(work: Callable[[], httpx.Response]) -> tuple[threading.Thread, list[httpx.Response]]:
    done: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: done.append(work()))
    thread.start()
    return thread, done


def test_healthz_answers_while_a_limiter_decision_is_held_up(api: Api, settings: Settings) -> None:
    workspace = api.store.find_workspace(api.workspace_id)
    assert workspace is not None
    api.batch([event()])  # the bucket exists: the next decision must wait for its lock
    with bucket_locked(settings, workspace.id):
        sender, answered = in_thread(lambda: api.batch([event()]))
        took: list[float] = []
        for _ in range(10):  # bounded: the held request cannot finish while the lock is held
            started = time.perf_counter()
            assert api.client.get("/healthz").status_code == 200
            took.append(time.perf_counter() - started)
        assert not answered, "the held request was answered: the lock did not hold it"
    sender.join(timeout=30)
    assert answered and answered[0].status_code == 200
    assert sorted(took)[len(took) // 2] < HEALTHZ_BUDGET_S, took
