"""Several nodes, end to end: three ``flokit serve`` processes on three ports, one PostgreSQL
database, one Redis. Every guarantee of one node holds across them."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_e2e_imports import _upload, _wait_for_phase, write_csv

from backends import REDIS_URL
from conftest import event
from server import Server, cli


@dataclass
class Cluster:
    db: str
    workspace_id: str
    key: str
    nodes: list[Server]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def post(self, node: int, events: list[Any], **headers: str) -> httpx.Response:
        return httpx.post(
            f"{self.nodes[node].url}/v1/batch/events",
            json={"events": events},
            headers={**self.auth, **headers},
            timeout=30,
        )

    def event_ids(self, node: int, page: int = 250) -> list[str]:
        """Every event of the workspace, newest first, read page by page through ``node``."""
        found: list[str] = []
        cursor: str | None = None
        for _ in range(10_000):  # bounded
            params = {"limit": str(page), **({"cursor": cursor} if cursor else {})}
            body = httpx.get(
                f"{self.nodes[node].url}/v1/events", params=params, headers=self.auth
            ).json()
            found += [e["event_id"] for e in body["events"]]
            if not (cursor := body["next_cursor"]):
                return found
        raise AssertionError("paging never ended")


@contextmanager
def start_cluster(
    fresh_postgres: str, redis_keys: str, tmp_path: Path, **env: str
) -> Iterator[Cluster]:
    created = cli(fresh_postgres, "workspaces", "create", "nodes")
    node_env = {"FLOKIT_REDIS_URL": REDIS_URL, "FLOKIT_REDIS_PREFIX": redis_keys, **env}

    def start(n: int) -> Server:
        own = {"FLOKIT_IMPORTS_DIR": str(tmp_path / f"imports{n}")}  # nodes share no disk
        return Server(fresh_postgres, log=tmp_path / f"node{n}.log", env={**node_env, **own})

    with ThreadPoolExecutor(3) as pool:  # started at once: migrations race and must not trip
        nodes = list(pool.map(start, range(3)))
    try:
        yield Cluster(fresh_postgres, created["workspace_id"], created["api_key"], nodes)
    finally:
        for node in nodes:
            node.stop()


@pytest.fixture
def cluster(fresh_postgres: str, redis_keys: str, tmp_path: Path) -> Iterator[Cluster]:
    with start_cluster(fresh_postgres, redis_keys, tmp_path, FLOKIT_RATE_LIMITS="false") as nodes:
        yield nodes


def batch_of(n: int, size: int, insert_ids: bool = True) -> list[dict[str, Any]]:
    return [
        event(user_id=f"u{n}_{i}", insert_id=f"ins_{n}_{i}" if insert_ids else None)
        for i in range(size)
    ]


def test_batches_spread_over_the_nodes_page_the_same_through_each(cluster: Cluster) -> None:
    answers = [cluster.post(n % 3, batch_of(n, 10)) for n in range(30)]
    assert {a.status_code for a in answers} == {200}
    assert cluster.post(1, batch_of(4, 10)).json()["duplicates"] == 10  # sent via node 1 before
    pages = [cluster.event_ids(node, page=7) for node in range(3)]
    assert pages[0] == pages[1] == pages[2]
    assert len(pages[0]) == len(set(pages[0])) == 300
    stored = [i for a in answers for i in a.json()["event_ids"]]
    assert sorted(pages[0]) == sorted(stored)


def test_one_idempotency_key_racing_on_two_nodes_stores_once(cluster: Cluster) -> None:
    for round_ in range(6):
        events = batch_of(100 + round_, 5, insert_ids=False)  # only the key can stop a repeat
        gate = threading.Barrier(2)

        def race(
            node: int,
            events: list[Any] = events,
            key: str = f"race-{round_}",
            gate: threading.Barrier = gate,
        ) -> Any:
            gate.wait()
            return cluster.post(node, events, **{"Idempotency-Key": key})

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(race, [0, 1]))
        assert {a.status_code for a in answers} <= {200, 409}, [a.text for a in answers]
        bodies = {a.content for a in answers if a.status_code == 200}
        assert len(bodies) == 1, answers  # a 200 on both nodes is the same answer
        replay = cluster.post(2, events, **{"Idempotency-Key": f"race-{round_}"})
        assert replay.headers["Idempotent-Replayed"] == "true" and replay.content in bodies
        other = cluster.post(round_ % 3, batch_of(200, 1), **{"Idempotency-Key": f"race-{round_}"})
        assert other.status_code == 422, other.text  # the key's body differs, on any node
    assert len(cluster.event_ids(2)) == 6 * 5


def test_rate_limit_is_exact_across_nodes(
    fresh_postgres: str, redis_keys: str, tmp_path: Path
) -> None:
    with start_cluster(fresh_postgres, redis_keys, tmp_path) as cluster:
        started = time.monotonic()
        with ThreadPoolExecutor(9) as pool:
            codes = list(pool.map(lambda n: cluster.post(n % 3, [event()]).status_code, range(300)))
        elapsed = time.monotonic() - started
    refill = math.ceil(elapsed * 100 / 60)
    assert set(codes) == {200, 429}
    assert 100 <= codes.count(200) <= 100 + refill, (codes.count(200), elapsed)


def test_kill_one_node_mid_load_and_resend_through_the_others(cluster: Cluster) -> None:
    batches = {n: batch_of(n, 20) for n in range(120)}
    acknowledged: dict[int, list[str]] = {}
    lock = threading.Lock()
    dead = threading.Event()

    def deliver(n: int) -> None:
        for attempt in itertools.count():  # resend until acknowledged, through a live node
            node = (n + attempt) % 3
            if node == 0 and dead.is_set():
                continue
            try:
                answer = cluster.post(node, batches[n])
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 200:
                with lock:
                    acknowledged[n] = answer.json()["event_ids"]
                return
            assert attempt < 50, f"batch {n} never acknowledged"

    with ThreadPoolExecutor(6) as pool:
        pending = [pool.submit(deliver, n) for n in batches]
        wait_until(lambda: len(acknowledged) >= 30)  # killed on an observed count
        cluster.nodes[0].kill()
        dead.set()
        for done in pending:
            done.result()
    stored = cluster.event_ids(1)
    assert len(stored) == len(set(stored)) == 120 * 20  # count = distinct events
    assert {i for ids in acknowledged.values() for i in ids} == set(stored)


def test_an_import_whose_node_dies_is_resumed_by_another(
    fresh_postgres: str, redis_keys: str, tmp_path: Path
) -> None:
    """Each node has a disk of its own: the node that resumes has neither the upload (unless
    it received it) nor the sorted files, and fetches and validates again what it lacks."""
    data = tmp_path / "big.csv"
    valid = write_csv(data, 200_000, bad_every=100)  # over 8 MiB: validated in two shares
    env = {"FLOKIT_IMPORT_STALE_SECONDS": "1", "FLOKIT_RATE_LIMITS": "false"}
    with start_cluster(fresh_postgres, redis_keys, tmp_path, **env) as cluster:
        url = cluster.nodes[0].url
        import_id = _upload(url, cluster.auth, data)
        job = _wait_for_phase(url, cluster.auth, import_id, "store")
        owner = next(n for n in cluster.nodes if import_id in n.output())
        owner.kill()
        survivor = next(n for n in cluster.nodes if n is not owner)
        assert job["status"] == "running" and 0 < job["accepted"] < valid, job
        final = wait_done_at(survivor.url, cluster.auth, import_id)
        assert (final["status"], final["accepted"], final["rejected"]) == (
            "completed",
            valid,
            2000,
        ), final
        stored = cluster.event_ids(cluster.nodes.index(survivor), page=1000)
        assert len(stored) == len(set(stored)) == valid
        assert kept_upload_chunks(cluster.db, import_id) == 0  # forgotten at the end


def kept_upload_chunks(db: str, import_id: str) -> int:
    import psycopg

    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT count(*) FROM import_files WHERE import_id = %s", (import_id,)
        ).fetchone()
    return int(row[0]) if row else -1


def wait_done_at(url: str, auth: dict[str, str], import_id: str) -> dict[str, Any]:
    from imports_helpers import wait_done

    return wait_done(lambda path: httpx.get(f"{url}{path}", headers=auth), import_id, 120)


def wait_until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def test_a_revoked_or_rotated_key_is_refused_on_the_next_request_on_every_node(
    cluster: Cluster,
) -> None:
    workspace = cli(cluster.db, "keys", "list", "--workspace", cluster.workspace_id)
    assert len(workspace) == 1
    spare = cli(cluster.db, "keys", "create", "--workspace", cluster.workspace_id)
    assert all(post_as(cluster, node, spare["api_key"]) == 200 for node in range(3))
    cli(cluster.db, "keys", "revoke", spare["key_id"], json_output=False)
    assert [post_as(cluster, node, spare["api_key"]) for node in range(3)] == [401] * 3
    rotated = cli(cluster.db, "keys", "rotate", workspace[0]["key_id"])
    assert [post_as(cluster, node, cluster.key) for node in range(3)] == [401] * 3
    assert [post_as(cluster, node, rotated["api_key"]) for node in range(3)] == [200] * 3


def post_as(cluster: Cluster, node: int, key: str) -> int:
    answer = httpx.post(
        f"{cluster.nodes[node].url}/v1/batch/events",
        json={"events": [event()]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    return answer.status_code
