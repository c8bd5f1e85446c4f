"""Load generator (its own process): N connections post pre-encoded batches; prints JSON stats.

Usage: python bench/client.py URL[,URL…] KEY FIRST_SEED COUNT CONNECTIONS [--handshake]

Connection i posts to URL i mod n. With ``--handshake`` it prints ``ready`` once its batches
are encoded and starts on a line from standard input, so the caller can start measuring CPU
at the same moment.
"""

from __future__ import annotations

import http.client
import json
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from workload import encoded_batch

Result = tuple[float, int, int, int]  # seconds, status, stored, rejected


Answer = tuple[float, int, dict[str, Any]]  # seconds, status, the JSON answer


def main() -> None:
    urls, key = sys.argv[1].split(","), sys.argv[2]
    first, count, connections = map(int, sys.argv[3:6])
    bodies = [encoded_batch(seed) for seed in range(first, first + count)]  # before the clock
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def handshake() -> None:
        if "--handshake" in sys.argv[6:]:
            print("ready", flush=True)
            sys.stdin.readline()

    answers, wall = post_all(urls, "/v1/batch/events", headers, bodies, connections, handshake)
    results: list[Result] = [
        (elapsed, status, got.get("accepted", 0) - got.get("duplicates", 0), got.get("rejected", 0))
        for elapsed, status, got in answers
    ]
    print(json.dumps(stats(results, wall, bodies)), flush=True)


def post_all(
    urls: list[str],
    path: str,
    headers: dict[str, str],
    bodies: list[bytes],
    connections: int,
    ready: Callable[[], None] = lambda: None,
) -> tuple[list[Answer], float]:
    """Every body posted once to ``path`` over ``connections`` keep-alive connections
    (connection i to URL i mod n): each answer with its latency, and the wall time from the
    start. ``ready`` runs when everything is set up, just before the clock starts."""
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    answers: list[Answer] = []
    lock = threading.Lock()

    def worker(url: str) -> None:
        target = urlsplit(url)
        conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=120)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                conn.close()
                return
            started = time.perf_counter()
            conn.request("POST", path, body, headers)
            response = conn.getresponse()
            answer = json.loads(response.read())
            elapsed = time.perf_counter() - started
            with lock:
                answers.append((elapsed, response.status, answer))

    threads = [
        threading.Thread(target=worker, args=(urls[i % len(urls)],)) for i in range(connections)
    ]
    ready()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, time.perf_counter() - started


def stats(results: list[Result], wall: float, bodies: list[bytes]) -> dict[str, object]:
    latencies = sorted(r[0] for r in results)
    stored = sum(r[2] for r in results)
    return {
        "batches": len(results),
        "statuses": sorted({r[1] for r in results}),
        "stored": stored,
        "rejected": sum(r[3] for r in results),
        "seconds": wall,
        "events_per_s": stored / wall,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "body_kb": round(sum(map(len, bodies)) / len(bodies) / 1024, 1),
    }


if __name__ == "__main__":
    main()
