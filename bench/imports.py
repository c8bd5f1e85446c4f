"""Import benchmark (issue 4): 1,000,000- and 3,000,000-row CSVs through `flokit import --wait`.

Run: ``make bench`` (or ``.venv/bin/python bench/imports.py [--rows N ...] [--rounds 3]``).
Reports rows/s end to end (upload to completion) and the server's peak RSS for each size: the
highest total of the server and its validation processes, sampled every 0.5 s, or the server's
own high-water mark if higher. Sizes alternate round by round and medians are reported, since
this machine drifts between runs.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import OUT, UNTHROTTLED, TreeRss, fresh_db, peak_rss_mb
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
    """Taxonomy mix, ~2% bad rows of several kinds, timestamps out of order."""
    rng = random.Random(rows)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for i in range(rows):
            doc = event(rng, f"csv{i}")
            props = doc["properties"]
            lifted = [str(props.pop(name, "")) for name in LIFTED]
            row = [
                doc["event"],
                doc["timestamp"],
                doc["user_id"],
                doc["anonymous_id"],
                *lifted,
                json.dumps(props, separators=(",", ":")),
            ]
            if rng.random() < 0.02:
                rng.choice(SPOILERS)(row)
            writer.writerow(row)


def _date_only(row: list[str]) -> None:
    row[1] = row[1][:10]


def _no_event(row: list[str]) -> None:
    row[0] = ""


def _no_user(row: list[str]) -> None:
    row[0], row[2] = "trial_started", ""  # trial_started needs a user_id


def _negative_revenue(row: list[str]) -> None:
    row[0], row[4], row[5], row[6] = "refund_issued", "-4.99", "USD", "txn_neg"


def _bad_currency(row: list[str]) -> None:
    row[0], row[4], row[5], row[6] = "refund_issued", "4.99", "usd", "txn_cur"


def _broken_properties(row: list[str]) -> None:
    row[7] = row[7][:-1]  # the JSON object cut short


#: Each bad row is spoilt one of these ways, so every rejection path is on the clock.
SPOILERS = (
    _date_only,
    _no_event,
    _no_user,
    _negative_revenue,
    _bad_currency,
    _broken_properties,
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
        with TreeRss(server.proc.pid) as tree:
            done = _import(data, server.url, key)
        seconds = time.perf_counter() - started
        own_peak = peak_rss_mb(server.proc.pid)
    finally:
        server.stop()
    print("   " + _summary_row(done.stdout), flush=True)
    late = [mb for t, mb in tree.samples if t >= seconds / 2]
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "rss_mb": max(tree.peak_mb, own_peak),
        "own_hwm_mb": own_peak,
        "late_rss_mb": max(late, default=0.0),
        "file_mb": data.stat().st_size / 2**20,
    }


def _import(data: Path, url: str, key: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "flokit", "import", str(data), "--url", url, "--key", key]
    return subprocess.run([*command, "--wait"], capture_output=True, text=True, check=True)


def _summary_row(stdout: str) -> str:
    """The CLI's summary table row (accepted, rejected, duplicates, time, rows/s)."""
    rows = [line for line in stdout.splitlines() if line.startswith("│")]
    return rows[-1] if rows else stdout.strip()[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    runs: dict[int, list[dict[str, float]]] = {rows: [] for rows in args.rows}
    for round_no in range(1, args.rounds + 1):
        for rows in args.rows:
            r = run(rows)
            runs[rows].append(r)
            print(
                f"   round {round_no}, {rows:,} rows: {r['rows_per_s']:,.0f} rows/s; peak RSS"
                f" {r['rss_mb']:.0f} MB (server alone {r['own_hwm_mb']:.0f} MB; second half"
                f" {r['late_rss_mb']:.0f} MB)",
                flush=True,
            )
    medians = {rows: _medians(results) for rows, results in runs.items()}
    for rows, m in medians.items():
        print(
            f"{rows:>10,} rows ({m['file_mb']:.0f} MB), median of {args.rounds}:"
            f" {m['rows_per_s']:,.0f} rows/s (target >= 40,000); peak RSS {m['rss_mb']:.0f} MB"
            " (target <= 300)",
            flush=True,
        )
    if len(medians) > 1:
        first, last = medians[args.rows[0]], medians[args.rows[-1]]
        print(
            f"median peak RSS at {args.rows[-1]:,} / at {args.rows[0]:,} rows:"
            f" {last['rss_mb'] / first['rss_mb']:.2f} (target: no more)"
        )


def _medians(results: list[dict[str, float]]) -> dict[str, float]:
    return {name: statistics.median(r[name] for r in results) for name in results[0]}


if __name__ == "__main__":
    main()
