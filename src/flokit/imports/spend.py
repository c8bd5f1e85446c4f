"""The client side of ``flokit spend import``: a spend CSV (header row with the row fields of
analytics.md §4) sent to ``POST /v1/spend`` in requests of 10,000 rows."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import msgspec

from flokit.domain.spend import SPEND_FIELDS

ROWS_PER_REQUEST = 10_000


class SpendImportFailed(Exception):
    """The file cannot be read as a spend CSV, or the server refused a request."""


@dataclass
class SpendOutcome:
    accepted: int = 0
    rejected: int = 0
    #: (line of the file, reason) of each refused row.
    errors: list[tuple[int, str]] = field(default_factory=list)


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The file's rows as JSON rows: empty cells are absent, ``spend`` a number when it reads
    as one (the server names what is wrong with any other)."""
    with _open(path) as text:
        reader = csv.DictReader(text)
        header = reader.fieldnames or []
        unknown = sorted(set(header) - SPEND_FIELDS)
        if not header or unknown:
            raise SpendImportFailed(
                f"unknown column {unknown[0]}" if unknown else f"{path} has no header row"
            )
        for row in reader:
            yield {name: _cell(name, value) for name, value in row.items() if value}


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _cell(name: str, value: str) -> Any:
    if name != "spend":
        return value
    try:
        return float(value)
    except ValueError:
        return value


def send(path: Path, url: str, key: str) -> SpendOutcome:
    """Send every row; the rows stored and each refused row's line and reason."""
    outcome = SpendOutcome()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for first_line, rows in _chunks(read_rows(path)):
            response = http.post("/v1/spend", content=_json(rows), headers=_JSON)
            body = response.json()
            if response.status_code != 200:
                raise SpendImportFailed(f"{response.status_code}: {body.get('message', body)}")
            outcome.accepted += body["accepted"]
            outcome.rejected += body["rejected"]
            outcome.errors += [(first_line + e["index"], e["reason"]) for e in body["errors"]]
    return outcome


_JSON = {"Content-Type": "application/json"}


def _json(rows: list[dict[str, Any]]) -> bytes:
    return msgspec.json.encode({"rows": rows})


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(line of the chunk's first row in the file, rows); line 1 is the header."""
    chunk: list[dict[str, Any]] = []
    line = 2
    for row in rows:
        chunk.append(row)
        if len(chunk) == ROWS_PER_REQUEST:
            yield line, chunk
            line, chunk = line + len(chunk), []
    if chunk:
        yield line, chunk
