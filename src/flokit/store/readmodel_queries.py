"""What the read API asks of the read models (both backends, in their own placeholders)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from flokit.model import EventQuery, StoredEvent
from flokit.store.queries import JOINED_EVENT_COLUMNS, STORED_EVENT_COLUMNS, event_filters
from flokit.store.readmodel_sql import _PERSON, Person, ReadModels

#: Conflicts a profile lists, newest first.
NEWEST = 100


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True, slots=True)
class Conflict:
    anonymous_id: str
    linked_user_id: str
    other_user_id: str
    event_id: str
    ts: int
    seq: int


@dataclass(frozen=True, slots=True)
class PeopleQuery:
    workspace_id: int
    limit: int
    before: tuple[int, str, str] | None = None  # (last_seen, kind, id) of the last one shown
    prefix: str | None = None
    kind: str | None = None  # "u", "a" or both


@dataclass(frozen=True, slots=True)
class TimelineQuery:
    workspace_id: int
    user_id: str
    anonymous_ids: Sequence[str]
    limit: int
    order: Order = Order.DESC
    after: tuple[int, int] | None = None  # (timestamp, seq) of the last event shown


_CONFLICTS = (
    "SELECT p.anonymous_id, l.user_id, p.user_id, p.event_id, p.ts, p.seq FROM identity_pairs p"
    " JOIN identity_links l ON l.workspace_id = p.workspace_id AND l.anonymous_id = p.anonymous_id"
    " WHERE p.workspace_id = ? AND p.conflict = 1"
)


class ReadQueries(ReadModels):
    """The read API's queries over the read models."""

    def conflicts_naming(self, ws: int, user_id: str, anons: Sequence[str]) -> list[Conflict]:
        """Conflicts where the user is the other claimant, and those on their own anonymous
        ids: index lookups of the pairs, then of their links (a join let SQLite, which has no
        statistics on the read models, walk every link first: 82 ms a profile on 5M events).
        ``+conflict`` keeps it off the all-conflicts index."""
        pairs = "SELECT anonymous_id, user_id, event_id, ts, seq FROM identity_pairs"
        where = " WHERE workspace_id = ? AND +conflict = 1 AND "
        # The subquery reads the user index; asked directly, SQLite walked the primary key.
        mine = "anonymous_id IN (SELECT anonymous_id FROM identity_pairs"
        mine += " WHERE workspace_id = ? AND user_id = ?) AND user_id = ?"
        found = self.rows(pairs + where + mine, ws, ws, user_id, user_id)
        if anons:
            among = self.d.among("anonymous_id")
            found += self.rows(pairs + where + among, ws, self.d.as_list(anons))
        links = self.links_of(ws, {row[0] for row in found}) if found else {}
        rows = sorted({r[4]: r for r in found}.values(), key=lambda r: r[4], reverse=True)
        return [Conflict(r[0], links[r[0]], *r[1:]) for r in rows[:NEWEST] if r[0] in links]

    def newest_conflicts(self, ws: int, limit: int) -> list[Conflict]:
        sql = f"{_CONFLICTS} ORDER BY p.seq DESC LIMIT ?"
        return [Conflict(*r) for r in self.rows(sql, ws, limit)]

    def people_page(self, query: PeopleQuery) -> list[Person]:
        clauses: list[str] = ["workspace_id = ?"]
        args: list[object] = [query.workspace_id]
        if query.kind is not None:
            clauses.append("kind = ?")
            args.append(query.kind)
        if query.before is not None:
            clauses.append("(last_seen, kind, id) < (?, ?, ?)")
            args.extend(query.before)
        if query.prefix is not None:
            clauses.append(self._prefix_clause(query, args))
        sql = (
            f"SELECT {_PERSON} FROM people WHERE {' AND '.join(clauses)}"
            " ORDER BY last_seen DESC, kind DESC, id DESC LIMIT ?"
        )
        return [Person(*r) for r in self.rows(sql, *args, query.limit)]

    def _prefix_clause(self, query: PeopleQuery, args: list[object]) -> str:
        """People whose id starts with the prefix, and users one of whose linked anonymous
        ids does (a byte range, so the primary keys serve it)."""
        assert query.prefix is not None
        low, high = query.prefix, query.prefix + "\U0010ffff"
        args.extend([low, high, query.workspace_id, low, high])
        return (
            "((id >= ? AND id < ?) OR (kind = 'u' AND id IN (SELECT user_id FROM identity_links"
            " WHERE workspace_id = ? AND anonymous_id >= ? AND anonymous_id < ?)))"
        )

    def timeline(self, query: TimelineQuery) -> list[StoredEvent]:
        """The merged timeline: the user's own events, and their anonymous ids' events that
        carry no user, by (timestamp, seq)."""
        keys = [f"u:{query.user_id}", *(f"a:{a}" for a in query.anonymous_ids)]
        args: list[object] = [query.workspace_id, self.d.as_list(keys), f"u:{query.user_id}"]
        sign, direction = (">", "ASC") if query.order is Order.ASC else ("<", "DESC")
        after = ""
        if query.after is not None:
            after = f" AND (i.ts, i.seq) {sign} (?, ?)"
            args.extend(query.after)
        sql = (
            f"SELECT {JOINED_EVENT_COLUMNS} FROM event_index i JOIN events e ON e.seq = i.seq"
            f" WHERE i.workspace_id = ? AND {self.d.among('i.key')} AND (i.key = ? OR i.solo = 1)"
            f"{after} ORDER BY i.ts {direction}, i.seq {direction} LIMIT ?"
        )
        return [StoredEvent(*r) for r in self.rows(sql, *args, query.limit)]

    def indexed_events(self, query: EventQuery, key: str) -> list[StoredEvent]:
        """A page of ``GET /v1/events`` found through the index on ``key`` (the most selective
        filter given); the other filters apply to the rows it finds."""
        where, args = event_filters(query, self.d.mark, "e.")
        mark = self.d.mark
        before = f" AND i.seq < {mark}" if query.before_seq is not None else ""
        sql = (
            f"SELECT {JOINED_EVENT_COLUMNS} FROM event_index i JOIN events e ON e.seq = i.seq"
            f" WHERE i.workspace_id = {mark} AND i.key = {mark}{before}"
            f" AND {where} ORDER BY i.seq DESC LIMIT {mark}"
        )
        extra = [query.before_seq] if query.before_seq is not None else []
        params = [query.workspace_id, key, *extra, *args, query.limit]
        return [StoredEvent(*r) for r in self.db.rows(sql, params)]

    def filtered_events(self, query: EventQuery, unsettled: str) -> list[StoredEvent]:
        """``GET /v1/events`` with a user, anonymous id or event filter: the index for what the
        projector has seen, the log itself for what it may not have (``unsettled``: the
        backend's condition for those events, a handful when it keeps up)."""
        key = index_key(query)
        assert key is not None
        found = self.indexed_events(query, key)
        where, args = event_filters(query, self.d.mark)
        sql = (
            f"SELECT {STORED_EVENT_COLUMNS} FROM events WHERE {where} AND {unsettled}"
            f" ORDER BY seq DESC LIMIT {self.d.mark}"
        )
        found += [StoredEvent(*r) for r in self.db.rows(sql, [*args, query.limit])]
        unique = {e.seq: e for e in found}
        return [unique[s] for s in sorted(unique, reverse=True)[: query.limit]]


def index_key(query: EventQuery) -> str | None:
    """The most selective filter of ``query`` that the event index serves, as its key."""
    if query.user_id is not None:
        return f"u:{query.user_id}"
    if query.anonymous_id is not None:
        return f"a:{query.anonymous_id}"
    if query.event is not None:
        return f"e:{query.event}"
    return None
