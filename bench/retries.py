"""Retries and limits benchmark (issue 3): replay cost, limiter overhead, one vs two workers.

Run: ``make bench`` (or ``.venv/bin/python bench/retries.py [--batches N] [--rounds N]``).
Runs alternate (on, off, on, off, ...) so the machine's drift falls on both sides; medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from common import UNTHROTTLED, end_to_end, fresh_db, store_limit
from server import Server
from workload import encoded_batch


def replay_cost(count: int) -> tuple[float, float]:
    """Median seconds to ingest a 1,000-event batch with a fresh key, and to replay it."""
    db, key = fresh_db("replay.db")
    server = Server(db, env=UNTHROTTLED, log=db.with_suffix(".serve.log"))
    bodies = [encoded_batch(seed) for seed in range(2_000_000, 2_000_000 + count)]
    timings: dict[str, list[float]] = {"ingest": [], "replay": []}
    try:
        with httpx.Client(timeout=60) as client:
            for kind in ("ingest", "replay"):
                for number, body in enumerate(bodies):
                    headers = {
                        "Authorization": f"Bearer {key}",
                        "Idempotency-Key": f"k{number}",
                        "Content-Type": "application/json",
                    }
                    started = time.perf_counter()
                    response = client.post(
                        f"{server.url}/v1/batch/events", content=body, headers=headers
                    )
                    timings[kind].append(time.perf_counter() - started)
                    assert response.status_code == 200
                    assert (kind == "replay") == ("idempotent-replayed" in response.headers)
    finally:
        server.stop()
    return statistics.median(timings["ingest"]), statistics.median(timings["replay"])


def alternate(
    batches: int, rounds: int, variants: dict[str, dict[str, object]]
) -> dict[str, float]:
    """Median events/s of each variant of ``end_to_end``, run in alternation."""
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for round_number in range(rounds):
        for name, options in variants.items():
            db, key = fresh_db(f"{name}.db")
            seed = 3_000_000 + round_number * batches
            run = end_to_end(db, key, seed, batches, **options)  # type: ignore[arg-type]
            assert run["statuses"] == [200], run
            rates[name].append(run["events_per_s"])
            print(
                f"   round {round_number + 1} {name:<12} {run['events_per_s']:>9,.0f} events/s,"
                f" p50 {run['p50_ms']:.0f} ms, p99 {run['p99_ms']:.0f} ms,"
                f" RSS {run['server_rss_mb']:.0f} MB",
                flush=True,
            )
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=200, help="1,000-event batches per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant")
    parser.add_argument("--replays", type=int, default=40, help="batches ingested, then replayed")
    args = parser.parse_args()

    ingest_s, replay_s = replay_cost(args.replays)
    print(
        f"1. replay vs ingest of a 1,000-event batch: median {replay_s * 1000:.1f} ms vs "
        f"{ingest_s * 1000:.1f} ms = {replay_s / ingest_s:.1%} (target <= 10%)",
        flush=True,
    )

    print("2. limiter on (limit raised, nothing throttled) vs off, 1 worker")
    limiter = alternate(
        args.batches,
        args.rounds,
        {"limiter-on": {}, "limiter-off": {"env": {"FLOKIT_RATE_LIMITS": "false"}}},
    )
    cost = 1 - limiter["limiter-on"] / limiter["limiter-off"]
    print(
        f"   medians: on {limiter['limiter-on']:,.0f}, off {limiter['limiter-off']:,.0f} events/s;"
        f" the limiter costs {cost:.1%} (target <= 5%)"
    )

    print("3. --workers 1 vs --workers 2")
    workers = alternate(
        args.batches, args.rounds, {"workers-1": {"workers": 1}, "workers-2": {"workers": 2}}
    )
    limit = store_limit(fresh_db("store-limit.db")[0], args.batches)
    gain = workers["workers-2"] / workers["workers-1"]
    print(
        f"   medians: 1 worker {workers['workers-1']:,.0f}, 2 workers {workers['workers-2']:,.0f}"
        f" events/s; ratio {gain:.2f} (target >= 1.3)"
    )
    share = workers["workers-2"] / limit
    print(
        f"   store limit of the one SQLite writer, same run: {limit:,.0f} events/s; "
        f"2 workers reach {share:.2f} of it"
    )


if __name__ == "__main__":
    main()
