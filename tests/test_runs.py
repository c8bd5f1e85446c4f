"""Sorted runs: what the validate phase hands the store phase must come back complete, in
(timestamp, file row) order, from any resume point, however runs, frames and reads fall."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flokit.imports import runs
from flokit.model import ValidEvent

timestamps = st.lists(st.integers(0, 6), max_size=40)  # few values: many ties across rows


def event(ts: int, row: int) -> ValidEvent:
    return ValidEvent("custom", f"u{row}", None, ts, b'{"p":"%d"}' % row, None, None)


@settings(max_examples=60, deadline=None)
@given(
    shares=st.lists(timestamps, min_size=1, max_size=3),
    after=st.tuples(st.integers(-1, 7), st.integers(0, 130)),
)
def test_merged_runs_give_every_event_once_in_order_past_the_resume_point(
    shares: list[list[int]], after: tuple[int, int]
) -> None:
    sizes = (runs.RUN_ROWS, runs.FRAME_ROWS, runs.READ_BUFFER, runs.MIN_BLOCK)
    runs.RUN_ROWS, runs.FRAME_ROWS, runs.READ_BUFFER, runs.MIN_BLOCK = 7, 3, 64, 16
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths, expected = [], []
            for share, stamps in enumerate(shares):
                path, offset = Path(tmp) / f"sorted.{share}", sum(map(len, shares[:share]))
                writer = runs.RunWriter(path, Path(tmp) / f"runs.{share}")
                for row, ts in enumerate(stamps, start=1):
                    writer.add(ts, runs.place(share, row), event(ts, offset + row))
                    expected.append((ts, offset + row))
                writer.close()
                paths.append(path)
            places = {
                runs.place(s, r): sum(map(len, shares[:s])) + r
                for s in range(3)
                for r in range(1, 41)
            }
            file_row_after = (
                after[0],
                max((p for p, r in places.items() if r <= after[1]), default=0),
            )
            got = [(ts, places[p], e) for ts, p, e in runs.merged(paths, file_row_after)]
            assert not list(Path(tmp).glob("runs.*"))  # scratch runs are gone once merged
    finally:
        runs.RUN_ROWS, runs.FRAME_ROWS, runs.READ_BUFFER, runs.MIN_BLOCK = sizes
    assert [(ts, row) for ts, row, _ in got] == sorted(k for k in expected if k > after)
    assert all(e == event(ts, row) for ts, row, e in got)  # each event travels with its row


def test_a_cut_off_sorted_file_is_an_error_not_a_hang_or_a_silent_loss(tmp_path: Path) -> None:
    path = tmp_path / "sorted.0"
    writer = runs.RunWriter(path, tmp_path / "runs.0")
    for row in range(1, 101):
        writer.add(row, runs.place(0, row), event(row, row))
    writer.close()
    whole = path.read_bytes()
    for cut in (len(whole) - 1, len(whole) // 2, 3):
        path.write_bytes(whole[:cut])
        with pytest.raises(runs.DamagedRun):
            list(runs.merged([path], runs.BEFORE_ALL))
