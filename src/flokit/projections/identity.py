"""The identity projection: one batch of the log into links, conflicts, facts and people.

Each batch runs inside the store's transaction that also moves the checkpoint, so it is applied
once or not at all. Everything it keeps is order-independent (earliest pair wins, facts merge
commutatively), so late events, late links and imported history land where a rebuild from the
log would put them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from flokit.domain.cohorts import ITEM_EVENTS, Item, item_of
from flokit.domain.facts import (
    DETAILED_EVENTS,
    Facts,
    count_in,
    decode_facts,
    encode_facts,
    facts_of,
    merge,
    merge_all,
    merge_into,
)
from flokit.domain.identity import OwnerKind, is_identity
from flokit.projections import reports
from flokit.store.readmodel_sql import LogEvent, Pair, Person, ReadModels

USER, ANON = OwnerKind.USER.value, OwnerKind.ANONYMOUS.value


def project(models: ReadModels, events: Sequence[LogEvent]) -> None:
    """Apply a batch of log events (any workspaces, seq order) to the read models: the event
    index in SQL over the whole batch, the rest workspace by workspace."""
    models.index_batch(events)
    by_workspace: dict[int, list[LogEvent]] = defaultdict(list)
    for event in events:
        by_workspace[event.workspace_id].append(event)
    for workspace_id, batch in by_workspace.items():
        _Batch(models, workspace_id).apply(batch)


class _Identities(dict[str | None, str | None]):
    """A batch's ids -> the id if it names someone (``domain.identity.is_identity``), else
    None; each distinct id is checked once (a person's ids recur through a batch)."""

    def __missing__(self, value: str | None) -> str | None:
        named = self[value] = value if is_identity(value) else None
        return named


class _Batch:
    """One workspace's share of a batch."""

    def __init__(self, models: ReadModels, workspace_id: int) -> None:
        self.m, self.ws = models, workspace_id
        self.deltas: dict[str, Facts] = {}
        self.pairs: dict[tuple[str, str], Pair] = {}
        self.items: list[tuple[str, Item]] = []
        self.stored: dict[str, Facts] = {}
        self.recohort: set[str] = set()
        self.first_seen: set[str] = set()  # identities this batch is the first to see
        self.totals = models.totals(workspace_id)

    def apply(self, events: list[LogEvent]) -> None:
        self._read(events)
        links, moved = self._link()
        self._store_facts()
        people, gone, anons_of = self._refresh_people(links, moved)
        self.m.save_totals(self.ws, self.totals)
        recohort = [p for p in people if p.key in self.recohort]
        reports.refresh(self.m, self.ws, recohort, gone, anons_of, self.items, self.first_seen)

    def _read(self, events: list[LogEvent]) -> None:
        """Facts per owner, pairs and report items from the batch."""
        deltas, ids = self.deltas, _Identities()
        for seq, _, event_id, event, user_id, anonymous_id, ts, properties in events:
            user, anon = ids[user_id], ids[anonymous_id]
            key = f"{USER}:{user}" if user else f"{ANON}:{anon}" if anon else None
            if key is not None:
                kept = deltas.get(key)
                if kept is None:
                    deltas[key] = facts_of(event, seq, ts, properties)
                elif event in DETAILED_EVENTS:  # deltas' Facts are the batch's own: in place
                    merge_into(kept, facts_of(event, seq, ts, properties))
                else:
                    count_in(kept, ts)
                if (
                    event in ITEM_EVENTS
                    and (item := item_of(event, seq, ts, properties)) is not None
                ):
                    self.items.append((key, item))
            if user and anon:
                self._see_pair(Pair(anon, user, ts, seq, event_id))

    def _see_pair(self, pair: Pair) -> None:
        kept = self.pairs.get((pair.anonymous_id, pair.user_id))
        if kept is None or (pair.ts, pair.seq) < (kept.ts, kept.seq):
            self.pairs[(pair.anonymous_id, pair.user_id)] = pair

    def _link(self) -> tuple[dict[str, str], dict[str, str | None]]:
        """Links after this batch for every anonymous id it touched, and the links that moved
        (anonymous id -> the user it was linked to before, if any)."""
        anons = {k[2:] for k in self.deltas if k[0] == ANON} | {a for a, _ in self.pairs}
        before = self.m.links_of(self.ws, anons) if anons else {}
        links = dict(before)
        if not self.pairs:
            return links, {}
        by_anon: dict[str, dict[str, Pair]] = defaultdict(dict)
        for pair in self.m.pairs_of(self.ws, {a for a, _ in self.pairs}):
            by_anon[pair.anonymous_id][pair.user_id] = pair
        changed: list[Pair] = []
        for (anon, user), pair in self.pairs.items():
            kept = by_anon[anon].get(user)
            if kept is None or (pair.ts, pair.seq) < (kept.ts, kept.seq):
                pair.conflict = kept.conflict if kept else 0
                by_anon[anon][user] = pair
                changed.append(pair)
        for anon, pairs in by_anon.items():
            first = min(pairs.values(), key=lambda p: (p.ts, p.seq))
            links[anon] = first.user_id
            changed.extend(self._flag_conflicts(pairs.values(), first.user_id))
        moved = {a: before.get(a) for a, u in links.items() if before.get(a) != u}
        self.totals.linked += sum(1 for old in moved.values() if old is None)
        self.m.save_pairs(self.ws, {id(p): p for p in changed}.values())
        self.m.save_links(self.ws, {a: links[a] for a in moved})
        return links, moved

    def _flag_conflicts(self, pairs: Iterable[Pair], linked: str) -> list[Pair]:
        """Mark every pair but the link as a conflict (counted in the totals); the pairs whose
        mark changed. A pair new in this batch comes in unmarked."""
        flipped = []
        for pair in pairs:
            conflict = int(pair.user_id != linked)
            if conflict != pair.conflict:
                self.totals.conflicts += conflict - pair.conflict
                pair.conflict = conflict
                flipped.append(pair)
        return flipped

    def _store_facts(self) -> None:
        """Merge the deltas into the stored facts; ``self.stored`` keeps what was saved."""
        kept = self.m.facts(self.ws, self.deltas)
        self.first_seen = self.deltas.keys() - kept.keys()
        self.stored = {
            key: merge(decode_facts(kept[key]), delta) if key in kept else delta
            for key, delta in self.deltas.items()
        }
        self.m.save_facts(self.ws, {k: encode_facts(f).decode() for k, f in self.stored.items()})

    def _refresh_people(
        self, links: dict[str, str], moved: dict[str, str | None]
    ) -> tuple[list[Person], list[str], dict[str, list[str]]]:
        """Bring every person this batch touched up to date; the people kept, the keys of those
        who are no longer people, and the anonymous ids of the users the reports refresh.

        A person whose identities are the same as before gets the batch's facts merged into
        their stored ones (merging is associative and commutative); a new person, and anyone a
        moved link adds or takes identities from, is merged again from all their identities."""
        deltas_of: dict[str, list[Facts]] = defaultdict(list)
        with_items = {owner for owner, _ in self.items}
        for key, delta in self.deltas.items():
            anon_user = links.get(key[2:]) if key[0] == ANON else None
            owner = f"u:{anon_user}" if anon_user else key
            deltas_of[owner].append(delta)
            # People whose cohort rows may change (an item, an install, a link that moved, a
            # new first day); the others' rows stay as they are.
            if delta.install is not None or key in with_items:
                self.recohort.add(owner)
        regrouped: set[str] = set()
        for anon, old_user in moved.items():
            regrouped |= {f"u:{links[anon]}", f"a:{anon}"} | (
                {f"u:{old_user}"} if old_user else set()
            )
        self.recohort |= regrouped
        touched = deltas_of.keys() | regrouped
        old = self.m.people(self.ws, touched)
        merged, anons_of = self._merged_again(regrouped | (touched - old.keys()), links)
        for key in touched - merged.keys():
            merged[key] = merge_all([decode_facts(old[key].facts), *deltas_of[key]])
        new: list[Person] = []
        for key, facts in merged.items():
            person = _person(key, facts) if facts is not None else None
            was = old.get(key)
            self._count(was, person)
            if person is not None:
                new.append(person)
                if was is None or was.first_seen != person.first_seen:
                    self.recohort.add(key)  # a new cohort day, or a new person
        self.m.save_people(self.ws, new)
        gone = [k for k, facts in merged.items() if facts is None and k in old]
        if gone:
            self.m.delete_people(self.ws, gone)
        unknown = [k[2:] for k in self.recohort if k[0] == USER and k[2:] not in anons_of]
        if unknown:
            anons_of.update(self.m.anons_of(self.ws, unknown))
        return new, gone, anons_of

    def _merged_again(
        self, keys: set[str], links: dict[str, str]
    ) -> tuple[dict[str, Facts | None], dict[str, list[str]]]:
        """The facts of these people from all their identities' stored facts (None: not a
        person, e.g. an anonymous id now linked to a user), and the users' anonymous ids."""
        users = [k[2:] for k in keys if k[0] == USER]
        anons_of = self.m.anons_of(self.ws, users) if users else {}
        wanted = keys | {f"a:{a}" for u in users for a in anons_of.get(u, [])}
        unread = wanted - self.stored.keys()  # the batch's own facts were just saved
        facts = {k: decode_facts(v) for k, v in self.m.facts(self.ws, unread).items()}
        facts.update(self.stored)
        merged: dict[str, Facts | None] = {}
        for key in keys:
            parts = [facts[key]] if key in facts else []
            if key[0] == USER:
                parts += [facts[f"a:{a}"] for a in anons_of.get(key[2:], []) if f"a:{a}" in facts]
            elif key[2:] in links:
                parts = []  # a linked anonymous id is part of its user, not a person
            merged[key] = merge_all(parts) if parts else None
        return merged, anons_of

    def _count(self, old: Person | None, new: Person | None) -> None:
        if old is not None:
            self.totals.add(old, -1)
        if new is not None:
            self.totals.add(new, 1)


def _person(key: str, facts: Facts) -> Person:
    assert facts.first_seen is not None and facts.last_seen is not None
    return Person(
        key=key,
        kind=key[0],
        id=key[2:],
        first_seen=facts.first_seen,
        last_seen=facts.last_seen,
        event_count=facts.count,
        status=facts.subscription_status.value,
        has_install=int(facts.install is not None),
        joined=int(facts.joined_within_7d),
        revenue_events=facts.revenue_events,
        facts=encode_facts(facts).decode(),
    )
