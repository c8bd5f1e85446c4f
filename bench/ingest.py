"""Ingest benchmark (issue 2): store limit, end to end on an empty and a 5M-event store, ratios.

Run: ``make bench`` (or ``.venv/bin/python bench/ingest.py [--batches N] [--grown N]``).
Everything is measured in this one run, side by side, on this machine.
"""

from __future__ import annotations

import argparse

from common import OUT, end_to_end, fresh_db, grown_db, remove, report, store_limit

#: Ingest alone: the grown store's 5M events have no read models, and a projector catching up
#: with them would share the cores with what is measured. What the projector costs ingest is
#: identity.py's on/off comparison (issue 12).
INGEST_ALONE = {"FLOKIT_PROJECTOR": "false"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=300, help="1,000-event batches per run")
    parser.add_argument("--grown", type=int, default=5_000_000, help="events in the grown store")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    fresh = OUT / "store-limit.db"
    remove("store-limit.db")
    limit = store_limit(fresh, args.batches)
    print(f"1. store limit: {limit:,.0f} events/s ({args.batches} x ~980-row transactions)")

    empty_db, key = fresh_db("empty-run.db")
    empty = end_to_end(empty_db, key, 0, args.batches, env=INGEST_ALONE)
    report("2. end to end, empty store", empty)

    grown_path, grown_key = grown_db(args.grown)
    grown = end_to_end(grown_path, grown_key, 1_000_000, args.batches, env=INGEST_ALONE)
    report(f"3. end to end, store with {args.grown:,} events", grown)

    print("4. ratios")
    print(f"   end-to-end / store limit : {empty['events_per_s'] / limit:.2f} (target >= 0.6)")
    growth = grown["events_per_s"] / empty["events_per_s"]
    print(f"   grown / empty store      : {growth:.2f} (target >= 0.8)")
    for name, run in (("empty", empty), ("grown", grown)):
        print(f"   p99 / p50 ({name})        : {run['p99_ms'] / run['p50_ms']:.2f} (target <= 3)")
    peak = max(empty["server_rss_mb"], grown["server_rss_mb"])
    print(f"   peak server RSS          : {peak:.0f} MB (target <= 250)")


if __name__ == "__main__":
    main()
