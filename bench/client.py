"""Load generator (its own process): N connections post pre-encoded batches; prints JSON stats.

Usage: python bench/client.py URL KEY FIRST_SEED COUNT CONNECTIONS
"""

from __future__ import annotations

import http.client
import json
import queue
import sys
import threading
import time
from urllib.parse import urlsplit

from workload import encoded_batch


def main() -> None:
    url, key, first, count, connections = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    bodies = [encoded_batch(seed) for seed in range(first, first + count)]  # before the clock
    work: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    for body in bodies:
        work.put(body)
    results: list[tuple[float, int, int, int]] = []
    lock = threading.Lock()
    target = urlsplit(url)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def worker() -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                return
            started = time.perf_counter()
            conn.request("POST", "/v1/batch/events", body, headers)
            response = conn.getresponse()
            payload = json.loads(response.read())
            elapsed = time.perf_counter() - started
            stored = payload.get("accepted", 0) - payload.get("duplicates", 0)
            with lock:
                results.append((elapsed, response.status, stored, payload.get("rejected", 0)))

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies = sorted(r[0] for r in results)
    print(
        json.dumps(
            {
                "batches": len(results),
                "statuses": sorted({r[1] for r in results}),
                "stored": sum(r[2] for r in results),
                "rejected": sum(r[3] for r in results),
                "seconds": wall,
                "events_per_s": sum(r[2] for r in results) / wall,
                "p50_ms": latencies[len(latencies) // 2] * 1000,
                "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
                "body_kb": round(sum(map(len, bodies)) / len(bodies) / 1024, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
