"""Crash-safety soak (issue 3): the kill -9 scenario of tests/crash.py, many times over.

Run: ``.venv/bin/python bench/crash.py [--runs 20]``; each run kills a loaded two-worker
server at a random moment (once a random number of batches are acknowledged), restarts it,
resends everything, and checks the store.
"""

from __future__ import annotations

import argparse
import random
import time

from common import OUT, remove
from crash import run_crash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    sound = 0
    for number in range(args.runs):
        db = OUT / f"crash-{number}.db"
        remove(f"crash-{number}.db")
        kill_after = random.Random(number).randint(1, 120)
        started = time.perf_counter()
        report = run_crash(db, batches=150, kill_after_acknowledged=kill_after, seed=number)
        sound += report.sound
        print(
            f"run {number + 1:2}: kill after {kill_after} acknowledged; {report.acknowledged}/"
            f"{report.batches} batches acknowledged; missing after crash "
            f"{report.missing_after_crash}; stored after resend {report.stored_after_resend}/"
            f"{report.distinct_sent}; duplicate insert_ids {report.duplicated_insert_ids}; "
            f"resend statuses {sorted(set(report.resend_statuses))}; integrity "
            f"{report.integrity}; {'ok' if report.sound else 'FAILED'} "
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        remove(f"crash-{number}.db")
    print(f"{sound}/{args.runs} runs sound")


if __name__ == "__main__":
    main()
