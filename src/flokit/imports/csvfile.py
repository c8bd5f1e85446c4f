"""The CSV file format of imports: header layout, one row into one event document.

Rows go through the same validator as the API (``Validator.check_document``); this module only
turns cells into the JSON shape an API client would have sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from flokit.model import RejectionCode
from flokit.taxonomy import PROPERTY_RULES, Coerce

ENVELOPE_COLUMNS = ("event", "timestamp", "user_id", "anonymous_id", "insert_id")
_PREFIX = "properties."
_decode = msgspec.json.Decoder()


class BadFile(ValueError):
    """The file as a whole cannot be imported (no header, unknown column, not UTF-8...)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that is not even an event: ragged, not UTF-8, unreadable ``properties``."""

    code: RejectionCode
    reason: str
    field: str | None


@dataclass(frozen=True, slots=True)
class Layout:
    """What each column of the header holds."""

    header: list[str]
    envelope: list[tuple[int, str]]
    properties_json: int | None
    properties: list[tuple[int, str, Coerce]]

    def event_name(self, cells: list[str]) -> str | None:
        """The row's ``event`` cell, to label its error (bytes that were not UTF-8 as U+FFFD,
        since the label is stored and served as JSON)."""
        for index, name in self.envelope:
            if name == "event" and index < len(cells):
                return _printable(cells[index]) or None
        return None


def read_layout(header: list[str]) -> Layout:
    """The layout of a header row, or ``BadFile`` saying what is wrong with it."""
    if not header or header == [""]:
        raise BadFile("The file has no header row")
    header = [header[0].removeprefix("\ufeff"), *header[1:]]
    envelope, props, json_column = [], [], None
    for index, name in enumerate(header):
        if name in ENVELOPE_COLUMNS:
            envelope.append((index, name))
        elif name == "properties":
            json_column = index
        elif name.startswith(_PREFIX) and len(name) > len(_PREFIX):
            prop = name[len(_PREFIX) :]
            rule = PROPERTY_RULES.get(prop)
            props.append((index, prop, rule.coerce if rule else str))
        else:
            raise BadFile(
                f"Unknown column {name!r}: columns are {', '.join(ENVELOPE_COLUMNS)}, "
                "properties and properties.<name>"
            )
    _require_unique(header)
    names = {name for _, name in envelope}
    for needed in ("event", "timestamp"):
        if needed not in names:
            raise BadFile(f"The header has no {needed!r} column")
    return Layout(header, envelope, json_column, props)


def _require_unique(header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise BadFile(f"Column {name!r} appears twice in the header")
        seen.add(name)


def row_document(layout: Layout, cells: list[str]) -> dict[str, Any] | RowProblem:
    """One data row as the event document an API client would send; empty cells are absent."""
    if len(cells) != len(layout.header):
        reason = f"Row has {len(cells)} cells; the header has {len(layout.header)}"
        return RowProblem(RejectionCode.INVALID_ROW, reason, None)
    if not _is_utf8(cells):
        return RowProblem(RejectionCode.INVALID_ROW, "Row is not valid UTF-8", None)
    doc: dict[str, Any] = {name: cells[i] for i, name in layout.envelope if cells[i]}
    properties: dict[str, Any] | None = None
    if layout.properties_json is not None and cells[layout.properties_json]:
        properties = _properties_cell(cells[layout.properties_json])
        if properties is None:
            reason = "Invalid field: properties must be a JSON object"
            return RowProblem(RejectionCode.INVALID_FIELD, reason, "properties")
    for index, name, coerce in layout.properties:
        if cells[index]:
            properties = properties if properties is not None else {}
            properties[name] = coerce(cells[index])
    if properties is not None:
        doc["properties"] = properties
    return doc


def _properties_cell(cell: str) -> dict[str, Any] | None:
    try:
        value = _decode.decode(cell)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    return value if isinstance(value, dict) else None


def _is_utf8(cells: list[str]) -> bool:
    """Cells were read with ``surrogateescape``: bytes that were not UTF-8 show as surrogates."""
    joined = "".join(cells)
    if joined.isascii():
        return True
    try:
        joined.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(cell: str) -> str:
    """``cell`` with the surrogates that stand for bytes that were not UTF-8 made U+FFFD."""
    if _is_utf8([cell]):
        return cell
    return cell.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
