"""The validate phase of an import, split in shares that run in parallel processes.

The data rows are cut into contiguous byte ranges at record boundaries (a newline outside any
quoted field: an even count of ``"`` before it), one per share. Each share parses and checks its
own rows, writes the valid ones to a file of its own sorted by (timestamp, row) (``runs.py``),
and its rejected rows to an errors file of its own. Row numbers inside a share are local;
``merge`` turns them into file row numbers, and the store phase merges the shares as it reads.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from flokit import signals
from flokit.gcpolicy import collect_cycles_rarely
from flokit.imports.csvfile import Layout, RowProblem, row_document
from flokit.imports.runs import RunWriter, place
from flokit.imports.upload import inspect
from flokit.model import Rejection, RejectionCode, ValidEvent
from flokit.pipeline.validate import Validator
from flokit.settings import Settings

FIRST_ERRORS = 100
PROGRESS_EVERY = 10_000
csv.field_size_limit(16 * 1024 * 1024)  # a larger cell makes its row an error, not a crash

#: In a worker process (set by ``start_worker``): per share, the rows read so far, and whether
#: the server asks the shares to stop (shared memory); the server's process id.
_progress: Any = None
_stop: Any = None
_server_pid = 0


class Stopped(Exception):
    """The server is shutting down: the job stopped part-way, and resumes on the next start
    (the validate phase from the upload, the store phase from its last commit)."""


def start_worker(progress: Any, stop: Any) -> None:
    """Process-pool initializer: where this process reports its progress and hears it must
    stop; the cycle collector runs rarely here, as in served processes (``gcpolicy``).

    The shutdown signals sent to the server's process group are ignored: killing this process
    would break the pool and fail the import. The server decides, through ``stop``. (The
    process was started with them held: one that came meanwhile is dropped here.)"""
    global _progress, _stop, _server_pid
    for sig in signals.SHUTDOWN_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    signals.let_in()
    _progress, _stop, _server_pid = progress, stop, os.getppid()
    collect_cycles_rarely()


@dataclass(frozen=True, slots=True)
class ShareTask:
    csv_path: Path
    sorted_path: Path  # its valid events, sorted
    errors_path: Path
    runs_path: Path  # its sorted runs, before they are merged into ``sorted_path``
    share: int
    start: int  # byte range of this share's rows in the file
    end: int
    settings: Settings
    now_us: int  # what "the future" is measured from: the import's creation, on every node


@dataclass(slots=True)
class ShareResult:
    rows: int = 0
    valid: int = 0
    rejected: int = 0
    first_errors: list[dict[str, Any]] = field(default_factory=list)


def validate_share(task: ShareTask, progress: Any = None, stop: Any = None) -> ShareResult:
    """Validate this share's rows of the file into its runs and errors files, counting
    the rows read in ``progress[task.share]``, and raising ``Stopped`` once ``stop.value`` is
    true (by default, both where ``start_worker`` said)."""
    progress = _progress if progress is None else progress
    stop = _stop if stop is None else stop
    layout = inspect(task.csv_path)
    validator = Validator(task.settings)
    runs = RunWriter(task.sorted_path, task.runs_path)
    try:
        result = _validate_rows(task, layout, validator, runs, progress, stop)
    except BaseException:
        runs.abandon()
        raise
    result.valid = result.rows - result.rejected
    return result


def _validate_rows(
    task: ShareTask, layout: Layout, validator: Validator, runs: RunWriter, progress: Any, stop: Any
) -> ShareResult:
    result = ShareResult()
    with (
        _open_range(task.csv_path, task.start, task.end) as source,
        task.errors_path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out,
    ):
        errors = csv.writer(out)
        stage, in_share = runs.add, place(task.share, 0)  # per row: no lookups, no counting
        for number, cells, outcome in _checked_rows(source, layout, validator, task):
            if type(outcome) is ValidEvent:
                stage(outcome.timestamp_us, in_share | number, outcome)
            else:
                assert isinstance(outcome, Rejection)
                result.rejected += 1
                errors.writerow([*cells, number, outcome.reason])
                if len(result.first_errors) < FIRST_ERRORS:
                    result.first_errors.append(
                        {"row": number, "event": outcome.event, "reason": outcome.reason}
                    )
            if number % PROGRESS_EVERY == 0:
                _check_stop(stop)
                if progress is not None:
                    progress[task.share] = number
            result.rows = number
    runs.close(checkpoint=lambda: _check_stop(stop))
    return result


def _check_stop(stop: Any) -> None:
    """Raise ``Stopped`` if the server asks to stop, or is gone (killed alone: this process,
    deaf to signals, must not validate on for nobody)."""
    if (stop is not None and stop.value) or (_server_pid and os.getppid() != _server_pid):
        raise Stopped("the server is shutting down")


def _open_range(path: Path, start: int, end: int) -> TextIO:
    """The text of bytes [start, end) of the file (UTF-8; bad bytes kept as surrogates)."""
    raw = path.open("rb")
    raw.seek(start)
    return io.TextIOWrapper(
        io.BufferedReader(_Window(raw, end - start)),
        encoding="utf-8",
        errors="surrogateescape",
        newline="",
    )


class _Window(io.RawIOBase):
    """At most ``size`` bytes of an open file, from where it stands."""

    def __init__(self, raw: io.BufferedReader, size: int) -> None:
        self.raw, self.left = raw, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self.left]
        count = self.raw.readinto(view) or 0
        self.left -= count
        return count

    def close(self) -> None:
        self.raw.close()
        super().close()


def split_rows(path: Path, shares: int) -> list[tuple[int, int]]:
    """Byte ranges of the data rows, one per share, cut at record boundaries: newlines outside
    quoted fields (RFC 4180 doubles quotes inside fields, so the count of quotes before a
    boundary is even)."""
    size = path.stat().st_size
    with path.open("rb") as source:
        first = _boundary_after(source, 0)  # after the header row
        cuts = [first]
        for share in range(1, shares):
            cuts.append(
                max(cuts[-1], _boundary_after(source, first + (size - first) * share // shares))
            )
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def _boundary_after(source: BinaryIO, offset: int) -> int:
    """The first record boundary at or after ``offset`` (end of file if none)."""
    source.seek(0)
    quotes, left = 0, offset
    while left > 0 and (chunk := source.read(min(left, 1 << 20))):  # bounded memory
        quotes += chunk.count(b'"')
        left -= len(chunk)
    while line := source.readline():
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            return source.tell()
    return source.tell()


def _checked_rows(
    source: TextIO, layout: Layout, validator: Validator, task: ShareTask
) -> Iterator[tuple[int, list[str], ValidEvent | Rejection]]:
    """Every row of the share (numbered from 1 within it) with its outcome."""
    reader = csv.reader(source)
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            cells, problem = (
                [],
                RowProblem(RejectionCode.INVALID_ROW, f"Row is not valid CSV ({exc})", None),
            )
        else:
            doc = row_document(layout, cells)
            if not isinstance(doc, RowProblem):
                yield number, cells, validator.check_document(doc, number, task.now_us)
                continue
            problem = doc
        event = layout.event_name(cells)
        yield number, cells, Rejection(number, event, problem.reason, problem.code, problem.field)


@dataclass(frozen=True, slots=True)
class Merged:
    """The validate phase's outcome: counts, first errors, and each share's row offset."""

    rows: int
    valid: int
    rejected: int
    first_errors: list[dict[str, Any]]
    offsets: list[int]


def merge(
    tasks: Sequence[ShareTask],
    results: Sequence[ShareResult],
    errors_path: Path,
    header: list[str],
) -> Merged:
    """Join the shares' reports: file row numbers, one errors file in row order (the shares
    are contiguous, so their errors follow each other). Runs files stay per share."""
    offsets = list(itertools.accumulate((r.rows for r in results), initial=0))[:-1]
    first: list[dict[str, Any]] = []
    with errors_path.open("w", encoding="utf-8", errors="surrogateescape", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*header, "row", "reason"])
        for task, result, offset in zip(tasks, results, offsets, strict=True):
            with task.errors_path.open(
                encoding="utf-8", errors="surrogateescape", newline=""
            ) as part:
                writer.writerows(
                    [*row[:-2], int(row[-2]) + offset, row[-1]] for row in csv.reader(part)
                )
            first += [{**e, "row": int(e["row"]) + offset} for e in result.first_errors]
            task.errors_path.unlink()
        out.flush()
        os.fsync(out.fileno())
    for task in tasks:
        fsync(task.sorted_path)
    return Merged(
        sum(r.rows for r in results),
        sum(r.valid for r in results),
        sum(r.rejected for r in results),
        first[:FIRST_ERRORS],
        offsets,
    )


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
