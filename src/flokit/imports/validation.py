"""The validate phase of an import, split in shares that run in parallel processes.

Every share reads the whole file (CSV parsing is cheap, in C) but validates only its own rows
(row number modulo the share count), writing its valid events to a staging file of its own and
its rejected rows to an errors file of its own. ``merge`` then joins the shares: one staging
table sorted by (timestamp, row) through an index, one errors file in row order.
"""

from __future__ import annotations

import csv
import heapq
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import msgspec

from flokit.imports.csvfile import Layout, RowProblem, row_document
from flokit.imports.upload import inspect
from flokit.model import Rejection, ValidEvent
from flokit.pipeline.validate import Validator
from flokit.settings import Settings

STAGE_ROWS = 5000
FIRST_ERRORS = 100
PROGRESS_EVERY = 10_000
csv.field_size_limit(16 * 1024 * 1024)  # a larger cell makes its row an error, not a crash

#: In a worker process: per share, the rows read so far (shared memory set by ``start_worker``).
_progress: Any = None


def start_worker(progress: Any) -> None:
    """Process-pool initializer: where this process reports its progress."""
    global _progress
    _progress = progress


@dataclass(frozen=True, slots=True)
class ShareTask:
    csv_path: Path
    stage_path: Path
    errors_path: Path
    share: int
    shares: int
    settings: Settings
    now_us: int


@dataclass(slots=True)
class ShareResult:
    rows: int = 0
    valid: int = 0
    rejected: int = 0
    first_errors: list[dict[str, Any]] = field(default_factory=list)


def pack(event: ValidEvent) -> bytes:
    return msgspec.msgpack.encode(
        (
            event.event,
            event.user_id,
            event.anonymous_id,
            event.timestamp_us,
            event.properties,
            event.insert_id,
            event.transaction_id,
        )
    )


def unpack(payload: bytes) -> ValidEvent:
    return ValidEvent(*msgspec.msgpack.decode(payload))


def validate_share(task: ShareTask) -> ShareResult:
    """Validate this share's rows of the file into its staging and errors files."""
    layout = inspect(task.csv_path)
    validator = Validator(task.settings)
    stage = open_stage(task.stage_path, fresh=True)
    result = ShareResult()
    pending: list[tuple[int, int, bytes]] = []
    with (
        task.csv_path.open(encoding="utf-8", errors="surrogateescape", newline="") as source,
        task.errors_path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out,
    ):
        errors = csv.writer(out)
        for number, cells, outcome in _checked_rows(source, layout, validator, task):
            if isinstance(outcome, Rejection):
                result.rejected += 1
                errors.writerow([*cells, number, outcome.reason])
                if len(result.first_errors) < FIRST_ERRORS:
                    result.first_errors.append(
                        {"row": number, "event": outcome.event, "reason": outcome.reason}
                    )
            elif outcome is not None:
                result.valid += 1
                pending.append((outcome.timestamp_us, number, pack(outcome)))
                if len(pending) >= STAGE_ROWS:
                    _stage(stage, pending)
            result.rows = number
            if _progress is not None and number % PROGRESS_EVERY == 0:
                _progress[task.share] = number
    _stage(stage, pending)
    stage.close()
    return result


def _checked_rows(
    source: TextIO, layout: Layout, validator: Validator, task: ShareTask
) -> Iterator[tuple[int, list[str], ValidEvent | Rejection | None]]:
    """Every data row (1-based); the outcome is None for rows of other shares."""
    reader = csv.reader(source)
    next(reader, None)  # the header, checked at upload
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells, problem = [], RowProblem("invalid_row", f"Row is not valid CSV ({exc})", None)
        else:
            if number % task.shares != task.share:
                yield number, cells, None
                continue
            doc = row_document(layout, cells)
            if not isinstance(doc, RowProblem):
                yield number, cells, validator.check_document(doc, number, task.now_us)
                continue
            problem = doc
        if number % task.shares == task.share:
            event = layout.event_name(cells)
            yield (
                number,
                cells,
                Rejection(number, event, problem.reason, problem.code, problem.field),
            )
        else:
            yield number, cells, None


def merge(
    tasks: Sequence[ShareTask],
    results: Sequence[ShareResult],
    stage_path: Path,
    errors_path: Path,
    header: list[str],
) -> ShareResult:
    """Join the shares: one staging table whose rowids follow (timestamp, row) order (SQLite's
    external sort does the work), one errors file in row order."""
    stage = open_stage(stage_path, fresh=True)
    shares = []
    for share, task in enumerate(tasks):
        stage.execute(f"ATTACH DATABASE ? AS share{share}", (str(task.stage_path),))
        shares.append(f"SELECT ts, row, payload FROM share{share}.rows")
    stage.execute(
        f"INSERT INTO rows (ts, row, payload) SELECT * FROM ({' UNION ALL '.join(shares)})"
        " ORDER BY ts, row"
    )
    stage.close()
    _merge_errors([t.errors_path for t in tasks], errors_path, header)
    for task in tasks:
        task.stage_path.unlink(missing_ok=True)
        task.errors_path.unlink(missing_ok=True)
    fsync(stage_path)
    fsync(errors_path)
    first = heapq.nsmallest(
        FIRST_ERRORS, (e for r in results for e in r.first_errors), key=lambda e: int(e["row"])
    )
    return ShareResult(
        max(r.rows for r in results),
        sum(r.valid for r in results),
        sum(r.rejected for r in results),
        first,
    )


def _merge_errors(parts: list[Path], target: Path, header: list[str]) -> None:
    with target.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*header, "row", "reason"])
        sources = [p.open(encoding="utf-8", errors="surrogateescape", newline="") for p in parts]
        try:
            numbered = [((int(row[-2]), row) for row in csv.reader(s)) for s in sources]
            writer.writerows(row for _, row in heapq.merge(*numbered))
        finally:
            for source in sources:
                source.close()


def open_stage(path: Path, fresh: bool) -> sqlite3.Connection:
    """A staging file: rebuilt from the upload if lost, so no journal and no fsync per write."""
    if fresh:
        path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -8192")  # read and written in order: little cache needed
    if fresh:
        conn.execute("CREATE TABLE rows (ts INTEGER NOT NULL, row INTEGER NOT NULL, payload BLOB)")
    return conn


def _stage(conn: sqlite3.Connection, pending: list[tuple[int, int, bytes]]) -> None:
    if pending:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO rows VALUES (?, ?, ?)", pending)
        conn.execute("COMMIT")
        pending.clear()


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
