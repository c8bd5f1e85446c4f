"""The read models' SQL, shared by both backends (it differs only in placeholders and in how a
list is passed): what the projector reads and writes inside its transaction, and what the
read API asks. Table by table:

- ``identity_pairs``: every (anonymous id, user id) pair seen, with its earliest event; the
  earliest pair of an anonymous id is its link, the others are conflicts (``conflict = 1``).
- ``identity_links``: each linked anonymous id's user (the earliest pair, kept current).
- ``identity_facts``: the ``Facts`` of each identity's own events, key ``u:<user>`` or
  ``a:<anonymous id>`` (events with no user id).
- ``people``: one row per person (a user with their linked anonymous ids merged, or an anonymous
  visitor), with the merged facts and the figures the lists and totals need.
- ``identity_totals``: per workspace, the sums ``GET /v1/identity`` answers with.
- ``event_index``: (key, seq) for every event's ``u:``/``a:``/``e:`` value, so the explorer's
  filters and the timelines read an index, never the log.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple, Protocol

from flokit.domain.identity import LOWERS_TO_ASCII, PLACEHOLDER_IDS, WHITESPACE


class Db(Protocol):
    """What the shared SQL needs of a connection (both drivers' cursors give it)."""

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...
    def many(self, sql: str, params: Iterable[Sequence[object]]) -> None: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """``mark`` is the driver's placeholder; ``list_sql`` tests membership in one list
    parameter (``{col}`` and ``{mark}`` filled in); ``as_list`` makes that parameter;
    ``trim`` strips the given characters from both ends; ``lower`` lowercases ASCII only, the
    same in every locale (``{x}`` filled in); ``seq_ranges``: a projector batch is every event
    in its range of seq (SQLite, which commits in seq order)."""

    mark: str
    list_sql: str
    json_list: bool
    trim: str
    lower: str
    seq_ranges: bool

    def q(self, sql: str) -> str:
        return sql.replace("?", self.mark)

    def among(self, column: str) -> str:
        return self.list_sql.format(col=column, mark=self.mark)

    def as_list(self, values: Iterable[str]) -> object:
        items = list(values)
        return json.dumps(items) if self.json_list else items

    def batch(self, events: Sequence[LogEvent]) -> tuple[str, tuple[object, ...]]:
        """The condition that selects these events of the log, and its parameters."""
        if self.seq_ranges:
            return "seq BETWEEN ? AND ?", (events[0].seq, events[-1].seq)
        return "seq = ANY(?::bigint[])", ([e.seq for e in events],)


_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _sqlite_lower() -> str:
    replaced = "{x}"
    for char, ascii_char in LOWERS_TO_ASCII.items():
        replaced = f"replace({replaced}, '{char}', '{ascii_char}')"
    return f"lower({replaced})"


#: SQLite's lower() changes ASCII letters only (it is built without ICU); PostgreSQL's follows
#: the locale, so it spells the ASCII mapping out.
SQLITE = Dialect(
    "?",
    "{col} IN (SELECT value FROM json_each({mark}))",
    json_list=True,
    trim="trim",
    lower=_sqlite_lower(),
    seq_ranges=True,
)
POSTGRES = Dialect(
    "%s",
    "{col} = ANY({mark}::text[])",
    json_list=False,
    trim="btrim",
    lower=f"translate({{x}}, '{_UPPER}{''.join(LOWERS_TO_ASCII)}',"
    f" '{_UPPER.lower()}{''.join(LOWERS_TO_ASCII.values())}')",
    seq_ranges=False,
)


def is_identity_sql(column: str, dialect: Dialect) -> str:
    """``domain.identity.is_identity`` of a column, as a SQL condition."""
    stripped = f"{dialect.trim}({column}, '{WHITESPACE}')"
    placeholders = ", ".join(f"'{p}'" for p in sorted(PLACEHOLDER_IDS))
    return (
        f"({column} IS NOT NULL AND {stripped} <> ''"
        f" AND {dialect.lower.format(x=stripped)} NOT IN ({placeholders}))"
    )


@dataclass(slots=True)
class Pair:
    anonymous_id: str
    user_id: str
    ts: int
    seq: int
    event_id: str
    conflict: int = 0


@dataclass(slots=True)
class Person:
    key: str  # "u:<user id>" or "a:<anonymous id>"
    kind: str  # "u" or "a"
    id: str
    first_seen: int
    last_seen: int
    event_count: int
    status: str
    has_install: int
    joined: int
    revenue_events: int
    facts: str


@dataclass(slots=True)
class Totals:
    users: int = 0
    unlinked: int = 0
    linked: int = 0
    installs: int = 0
    joined: int = 0
    revenue_events: int = 0
    unattributed: int = 0
    conflicts: int = 0

    def add(self, person: Person, sign: int) -> None:
        """Count ``person`` in (``sign`` 1) or out (-1)."""
        self.users += sign * (person.kind == "u")
        self.unlinked += sign * (person.kind == "a")
        self.installs += sign * person.has_install
        self.joined += sign * person.joined
        self.revenue_events += sign * person.revenue_events
        self.unattributed += sign * (0 if person.has_install else person.revenue_events)


class LogEvent(NamedTuple):
    """What the projector reads of an event (a tuple: a rebuild makes millions of them, and a
    frozen dataclass's ``__init__`` cost 5% of its time)."""

    seq: int
    workspace_id: int
    event_id: str
    event: str
    user_id: str | None
    anonymous_id: str | None
    timestamp_us: int
    properties: str | None


LOG_COLUMNS = "seq, workspace_id, event_id, event, user_id, anonymous_id, timestamp_us, properties"
#: The event index's key prefixes and the log's columns they index.
_INDEXED = {"e": "event", "u": "user_id", "a": "anonymous_id"}
_PERSON = ", ".join(f.name for f in fields(Person))
_TOTALS = ", ".join(f.name for f in fields(Totals))
READ_MODEL_TABLES = (
    "identity_pairs",
    "identity_links",
    "identity_facts",
    "people",
    "identity_totals",
    "event_index",
    "report_items",
    "report_people",
    "report_revenue",
)


_GETTERS: dict[type, Callable[[Any], tuple[Any, ...]]] = {}


def _values(record: Any) -> tuple[Any, ...]:
    """A dataclass's field values in order, shallow (``astuple`` deep-copies each one)."""
    cls = type(record)
    getter = _GETTERS.get(cls)
    if getter is None:
        getter = _GETTERS[cls] = operator.attrgetter(*(f.name for f in fields(cls)))
    return getter(record)


class ReadModels:
    """The read-model tables on one connection, in the caller's transaction."""

    def __init__(self, db: Db, dialect: Dialect) -> None:
        self.db, self.d = db, dialect

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return self.db.rows(self.d.q(sql), params)

    def _many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self.db.many(self.d.q(sql), rows)

    # -- identity ----------------------------------------------------------------------------

    def pairs_of(self, ws: int, anons: Iterable[str]) -> list[Pair]:
        sql = "SELECT anonymous_id, user_id, ts, seq, event_id, conflict FROM identity_pairs"
        where = f" WHERE workspace_id = ? AND {self.d.among('anonymous_id')}"
        return [Pair(*r) for r in self.rows(sql + where, ws, self.d.as_list(anons))]

    def save_pairs(self, ws: int, pairs: Iterable[Pair]) -> None:
        self._many(
            "INSERT INTO identity_pairs (workspace_id, anonymous_id, user_id, ts, seq, event_id,"
            " conflict) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, anonymous_id,"
            " user_id) DO UPDATE SET ts = excluded.ts, seq = excluded.seq,"
            " event_id = excluded.event_id, conflict = excluded.conflict",
            [(ws, *_values(p)) for p in pairs],
        )

    def links_of(self, ws: int, anons: Iterable[str]) -> dict[str, str]:
        sql = "SELECT anonymous_id, user_id FROM identity_links WHERE workspace_id = ? AND "
        return dict(self.rows(sql + self.d.among("anonymous_id"), ws, self.d.as_list(anons)))

    def save_links(self, ws: int, links: dict[str, str]) -> None:
        self._many(
            "INSERT INTO identity_links (workspace_id, anonymous_id, user_id) VALUES (?, ?, ?)"
            " ON CONFLICT (workspace_id, anonymous_id) DO UPDATE SET user_id = excluded.user_id",
            [(ws, anon, user) for anon, user in links.items()],
        )

    def anons_of(self, ws: int, users: Iterable[str]) -> dict[str, list[str]]:
        sql = "SELECT user_id, anonymous_id FROM identity_links WHERE workspace_id = ? AND "
        found: dict[str, list[str]] = {}
        rows = self.rows(
            sql + self.d.among("user_id") + " ORDER BY 1, 2", ws, self.d.as_list(users)
        )
        for user, anon in rows:
            found.setdefault(user, []).append(anon)
        return found

    # -- facts and people --------------------------------------------------------------------

    def facts(self, ws: int, keys: Iterable[str]) -> dict[str, str]:
        sql = "SELECT key, facts FROM identity_facts WHERE workspace_id = ? AND "
        return dict(self.rows(sql + self.d.among("key"), ws, self.d.as_list(keys)))

    def save_facts(self, ws: int, facts: dict[str, str]) -> None:
        self._many(
            "INSERT INTO identity_facts (workspace_id, key, facts) VALUES (?, ?, ?)"
            " ON CONFLICT (workspace_id, key) DO UPDATE SET facts = excluded.facts",
            [(ws, key, text) for key, text in facts.items()],
        )

    def people(self, ws: int, keys: Iterable[str]) -> dict[str, Person]:
        sql = f"SELECT {_PERSON} FROM people WHERE workspace_id = ? AND "
        rows = self.rows(sql + self.d.among("key"), ws, self.d.as_list(keys))
        return {row[0]: Person(*row) for row in rows}

    def save_people(self, ws: int, people: Iterable[Person]) -> None:
        names = [f.name for f in fields(Person)]
        # key, kind and id never change for a key: leaving them out of the update spares the
        # id index a delete and an insert per person refreshed.
        updates = ", ".join(f"{n} = excluded.{n}" for n in names[3:])
        self._many(
            f"INSERT INTO people (workspace_id, {_PERSON}) VALUES (?{', ?' * len(names)})"
            f" ON CONFLICT (workspace_id, key) DO UPDATE SET {updates}",
            [(ws, *_values(p)) for p in people],
        )

    def delete_people(self, ws: int, keys: Iterable[str]) -> None:
        self.rows(
            f"DELETE FROM people WHERE workspace_id = ? AND {self.d.among('key')}",
            ws,
            self.d.as_list(keys),
        )

    def totals(self, ws: int) -> Totals:
        rows = self.rows(f"SELECT {_TOTALS} FROM identity_totals WHERE workspace_id = ?", ws)
        return Totals(*rows[0]) if rows else Totals()

    def save_totals(self, ws: int, totals: Totals) -> None:
        names = [f.name for f in fields(Totals)]
        updates = ", ".join(f"{n} = excluded.{n}" for n in names)
        self._many(
            f"INSERT INTO identity_totals (workspace_id, {_TOTALS}) VALUES (?{', ?' * len(names)})"
            f" ON CONFLICT (workspace_id) DO UPDATE SET {updates}",
            [(ws, *_values(totals))],
        )

    def index_batch(self, events: Sequence[LogEvent]) -> None:
        """The event index's rows of a batch's events, straight from the log in SQL: one per
        event name, user id and anonymous id (raw, placeholders too, so the explorer finds
        them). ``solo``, read on ``a:`` rows only: the event names no user (``is_identity``),
        so it belongs to whoever the anonymous id is linked to."""
        solo = {"a": f"CASE WHEN {is_identity_sql('user_id', self.d)} THEN 0 ELSE 1 END"}
        batch, params = self.d.batch(events)
        for key, column in _INDEXED.items():
            self.rows(
                "INSERT INTO event_index (workspace_id, key, seq, ts, solo)"
                f" SELECT workspace_id, '{key}:' || {column}, seq, timestamp_us,"
                f" {solo.get(key, '0')} FROM events WHERE {batch} AND {column} IS NOT NULL"
                " ON CONFLICT (workspace_id, key, seq) DO NOTHING",
                *params,
            )

    def clear(self) -> None:
        """Forget every read model and rewind the checkpoint to the log's beginning."""
        for table in READ_MODEL_TABLES:
            self.rows(f"DELETE FROM {table}")
        save_checkpoint(self.db, self.d, Checkpoint())


@dataclass(slots=True)
class Checkpoint:
    """Where the projector stands in the log. ``as_of``: the newest seq projected. SQLite
    commits in seq order, so ``seq`` alone says what is done; PostgreSQL assigns seq before
    commit, so it also keeps a window of transaction ids [``tx_lo``, ``tx_hi``): every
    transaction below ``tx_hi`` had ended when the window was opened, those below ``tx_lo`` are
    done, and within the window events up to ``seq`` are."""

    as_of: int = 0
    seq: int = 0
    tx_lo: int = 0
    tx_hi: int = 0


PROJECTION = "identity"


def take_checkpoint(db: Db, dialect: Dialect, lock: str = "") -> Checkpoint:
    """The checkpoint row (created on first use); ``lock`` e.g. ``FOR UPDATE``."""
    sql = "SELECT as_of, seq, tx_lo, tx_hi FROM projection_state WHERE name = ?"
    rows = db.rows(dialect.q(f"{sql} {lock}"), (PROJECTION,))
    return Checkpoint(*rows[0]) if rows else Checkpoint()


def save_checkpoint(db: Db, dialect: Dialect, checkpoint: Checkpoint) -> None:
    db.many(
        dialect.q(
            "INSERT INTO projection_state (name, as_of, seq, tx_lo, tx_hi) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET as_of = excluded.as_of, seq = excluded.seq,"
            " tx_lo = excluded.tx_lo, tx_hi = excluded.tx_hi"
        ),
        [(PROJECTION, *_values(checkpoint))],
    )
