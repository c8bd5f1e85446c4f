"""SQL both backends share: the import columns, and the filters of an event page in either
driver's placeholders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields

from flokit.model import EventQuery, ImportRecord

#: The columns of a ``StoredEvent``, in its field order (every backend's event reads).
STORED_EVENT_COLUMNS = (
    "seq, event_id, event, user_id, anonymous_id, timestamp_us, received_us, properties, insert_id"
)
#: The same, qualified by the alias ``e`` (queries that join the events).
JOINED_EVENT_COLUMNS = ", ".join(f"e.{c}" for c in STORED_EVENT_COLUMNS.split(", "))

#: The ``imports`` table's columns: one per ``ImportRecord`` field, same names, same order.
#: (What a job may change is what ``contract.ImportUpdate`` has fields for.)
IMPORT_COLUMNS = [f.name for f in fields(ImportRecord)]


def event_filters(query: EventQuery, mark: str, table: str = "") -> tuple[str, list[object]]:
    """The ``WHERE`` clause of ``query``'s page and its arguments; ``mark`` is the driver's
    placeholder (``?`` for sqlite3, ``%s`` for psycopg), ``table`` the events' alias with its
    dot, if the query names one."""
    clauses = [f"{table}workspace_id = {mark}"]
    args: list[object] = [query.workspace_id]
    for condition, value in _conditions(query):
        if value is not None:
            clauses.append(f"{table}{condition} {mark}")
            args.append(value)
    return " AND ".join(clauses), args


def _conditions(query: EventQuery) -> Iterator[tuple[str, object]]:
    yield "seq <", query.before_seq
    yield "event =", query.event
    yield "user_id =", query.user_id
    yield "anonymous_id =", query.anonymous_id
    yield "timestamp_us >=", query.since_us
    yield "timestamp_us <", query.until_us
