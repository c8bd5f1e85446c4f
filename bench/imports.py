"""Import benchmark (issue 4): 1,000,000- and 3,000,000-row CSVs through `flokit import --wait`.

Run: ``make bench`` (or ``.venv/bin/python bench/imports.py [--rows 1000000 3000000]``).
Reports rows/s end to end (upload to completion) and the server's peak RSS for each size.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import time
from pathlib import Path

from common import OUT, UNTHROTTLED, fresh_db, peak_rss_mb
from server import Server
from workload import event

COLUMNS = [
    "event",
    "timestamp",
    "user_id",
    "anonymous_id",
    "properties.revenue",
    "properties.currency",
    "properties.transaction_id",
    "properties",
]
LIFTED = ("revenue", "currency", "transaction_id")


def write_csv(path: Path, rows: int) -> None:
    """Taxonomy mix, ~2% bad rows, timestamps out of order (as workload.py's API batches)."""
    rng = random.Random(rows)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i in range(rows):
            doc = event(rng, f"csv{i}", valid=rng.random() >= 0.02)
            props = doc["properties"]
            lifted = [str(props.pop(name, "")) for name in LIFTED]
            writer.writerow(
                [
                    doc["event"],
                    doc["timestamp"],
                    doc["user_id"],
                    doc["anonymous_id"],
                    *lifted,
                    json.dumps(props, separators=(",", ":")),
                ]
            )


def run(rows: int) -> dict[str, float]:
    data = OUT / f"import-{rows}.csv"
    if not data.exists():
        print(f"   writing {data.name} ...", flush=True)
        write_csv(data, rows)
    db, key = fresh_db(f"import-{rows}.db")
    server = Server(db, env=UNTHROTTLED, log=db.with_suffix(".serve.log"))
    try:
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "flokit",
                "import",
                str(data),
                "--url",
                server.url,
                "--key",
                key,
                "--wait",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        seconds = time.perf_counter() - started
        rss = peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    print(done.stdout.strip().splitlines()[-5:][0] if done.stdout else "", flush=True)
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "rss_mb": rss,
        "file_mb": data.stat().st_size / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000])
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    results = [run(rows) for rows in args.rows]
    for r in results:
        print(
            f"{r['rows']:>10,} rows ({r['file_mb']:.0f} MB): {r['seconds']:.1f} s, "
            f"{r['rows_per_s']:,.0f} rows/s (target >= 40,000); server peak RSS "
            f"{r['rss_mb']:.0f} MB (target <= 300)",
            flush=True,
        )
    if len(results) > 1:
        print(
            f"peak RSS at {results[-1]['rows']:,} / at {results[0]['rows']:,} rows: "
            f"{results[-1]['rss_mb'] / results[0]['rss_mb']:.2f} (target: no more)"
        )


if __name__ == "__main__":
    main()
