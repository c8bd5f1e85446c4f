"""SDK benchmark (issue 5): track() + background flush vs posting the same pre-built batches.

Run: ``make bench`` (or ``.venv/bin/python bench/sdk.py [--events N] [--rounds N]``).
Both sides send the same events to a fresh server (1 worker) over one connection at a time;
runs alternate and the medians are compared. Also the caller-side cost of ``track()``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import time
import uuid
from typing import Any

import httpx

from flokit_sdk import Client

from common import UNTHROTTLED, fresh_db
from server import Server
from workload import batch


def events(count: int, seed: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < count:
        out += [e for e in batch(seed + len(out)) if "T" in e["timestamp"]]  # valid ones only
    return out[:count]


def direct(url: str, key: str, docs: list[dict[str, Any]]) -> float:
    """Events/s posting pre-built gzipped 1,000-event batches, one after the other. They carry
    an insert_id per event, as the SDK's do, so the server does the same duplicate checks."""
    docs = [{**doc, "insert_id": str(uuid.uuid4())} for doc in docs]
    bodies = [
        gzip.compress(json.dumps({"events": docs[i : i + 1000]}).encode(), 6)
        for i in range(0, len(docs), 1000)
    ]
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    with httpx.Client(timeout=60) as client:
        started = time.perf_counter()
        for body in bodies:
            assert (
                client.post(f"{url}/v1/batch/events", content=body, headers=headers).status_code
                == 200
            )
        return len(docs) / (time.perf_counter() - started)


def with_sdk(url: str, key: str, docs: list[dict[str, Any]]) -> tuple[float, list[int]]:
    """Events/s of track() for every event then flush(), and each track() call's nanoseconds."""
    costs: list[int] = []
    with Client(key, url, flush_interval=1.0) as flokit:
        started = time.perf_counter()
        for doc in docs:
            before = time.perf_counter_ns()
            flokit.track(
                doc["event"],
                user_id=doc["user_id"],
                anonymous_id=doc["anonymous_id"],
                timestamp=doc["timestamp"],
                properties=doc["properties"],
            )
            costs.append(time.perf_counter_ns() - before)
        assert flokit.flush(timeout=300)
        rate = len(docs) / (time.perf_counter() - started)
    return rate, costs


def served(name: str, run: Any, docs: list[dict[str, Any]]) -> Any:
    db, key = fresh_db(name)
    server = Server(db, env=UNTHROTTLED, log=db.with_suffix(".serve.log"))
    try:
        return run(server.url, key, docs)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    docs = [
        {k: v for k, v in d.items() if k != "insert_id"} for d in events(args.events, 5_000_000)
    ]
    rates: dict[str, list[float]] = {"direct": [], "sdk": []}
    costs: list[int] = []
    for round_number in range(args.rounds):
        rates["direct"].append(served("sdk-direct.db", direct, docs))
        sdk_rate, sdk_costs = served("sdk-track.db", with_sdk, docs)
        rates["sdk"].append(sdk_rate)
        costs += sdk_costs
        print(
            f"   round {round_number + 1}: direct {rates['direct'][-1]:,.0f} events/s, "
            f"sdk {sdk_rate:,.0f} events/s",
            flush=True,
        )
    ratio = statistics.median(rates["sdk"]) / statistics.median(rates["direct"])
    costs.sort()
    print(
        f"SDK track()+flush vs direct posting: medians {statistics.median(rates['sdk']):,.0f} vs "
        f"{statistics.median(rates['direct']):,.0f} events/s = {ratio:.2f} (target >= 0.8)"
    )
    print(
        f"track() caller-side cost: median {costs[len(costs) // 2] / 1000:.1f} us, "
        f"p99 {costs[int(len(costs) * 0.99)] / 1000:.1f} us over {len(costs):,} calls"
    )


if __name__ == "__main__":
    main()
