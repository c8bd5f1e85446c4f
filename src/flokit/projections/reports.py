"""The reports' share of a projector batch: after the identity projection has refreshed the
people a batch touched, their cohort rows are recomputed from their facts and the subscription
and revenue events of all their identities. People whose refunds name a transaction that this
batch brought (a refund that arrived before its purchase) are refreshed too, since their refund
now falls on the purchase's day."""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set

from flokit.domain.cohorts import GROSS, REFUND, Item, cohort_person, revenue_days
from flokit.domain.facts import decode_facts
from flokit.store import report_sql
from flokit.store.readmodel_sql import Person, ReadModels


def refresh(
    m: ReadModels,
    ws: int,
    people: Sequence[Person],
    gone: Sequence[str],
    anons_of: dict[str, list[str]],
    items: Sequence[tuple[str, Item]],
    first_seen: Set[str],
) -> None:
    """Save the batch's ``items`` and recompute the cohort rows of ``people`` (and of anyone
    whose refund one of the batch's purchases dates); forget those of ``gone``. Identities in
    ``first_seen`` had no events before this batch, so their items are the batch's own and are
    not read back."""
    report_sql.save_items(m, ws, items)
    if gone:
        report_sql.delete_cohorts(m, ws, gone)
    extra, extra_anons = _dated_refunds(m, ws, {p.key for p in people}, items)
    people, anons_of = [*people, *extra], {**anons_of, **extra_anons}
    if not people:
        return
    owners = {p.key: _owners(p, anons_of) for p in people}
    stored = [o for keys in owners.values() for o in keys if o not in first_seen]
    found = report_sql.items_of(m, ws, stored) if stored else {}
    for owner, item in items:
        if owner in first_seen:
            found.setdefault(owner, []).append(item)
    mine = {key: [i for o in keys for i in found.get(o, [])] for key, keys in owners.items()}
    txns = {i.txn for its in mine.values() for i in its if i.event == REFUND and i.txn}
    dated = report_sql.transaction_times(m, ws, txns) if txns else {}
    report_sql.save_cohorts(
        m,
        ws,
        [
            report_sql.CohortRows(
                p.key,
                cohort_person(decode_facts(p.facts), mine[p.key]),
                revenue_days(mine[p.key], dated),
            )
            for p in people
        ],
    )


def _owners(person: Person, anons_of: dict[str, list[str]]) -> list[str]:
    if person.kind != "u":
        return [person.key]
    return [person.key, *(f"a:{a}" for a in anons_of.get(person.id, []))]


def _dated_refunds(
    m: ReadModels, ws: int, done: set[str], items: Iterable[tuple[str, Item]]
) -> tuple[list[Person], dict[str, list[str]]]:
    """People not refreshed yet whose refunds name a transaction the batch carries, and the
    anonymous ids of those who are users."""
    txns = {i.txn for _, i in items if i.event in GROSS and i.txn}
    if not txns:
        return [], {}
    owners = report_sql.refund_owners(m, ws, txns)
    anons = [o[2:] for o in owners if o[0] == "a"]
    links = m.links_of(ws, anons) if anons else {}
    keys = {f"u:{links[o[2:]]}" if o[0] == "a" and o[2:] in links else o for o in owners}
    keys -= done
    if not keys:
        return [], {}
    found = m.people(ws, keys)
    users = [p.id for p in found.values() if p.kind == "u"]
    return list(found.values()), m.anons_of(ws, users) if users else {}
