"""The reports' read models (both backends), written by the projector in its transaction:

- ``report_items``: every subscription and revenue event, by the identity that sent it
  (``u:<user>`` / ``a:<anonymous id>``), with its amount, transaction, offer and paywall;
- ``report_people``: one row per person: cohort day, group values, trial/paid/converted,
  renewals, first paid day and end day (``domain.cohorts.CohortPerson``);
- ``report_revenue``: a person's net revenue per (day, currency), with the person's cohort day
  and group values copied in, so a report reads one index range and never joins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from msgspec.structs import astuple

from flokit.domain.cohorts import GROSS, REFUND, CohortPerson, DayRevenue, Item
from flokit.store.readmodel_sql import ReadModels

REPORT_TABLES = ("report_items", "report_people", "report_revenue")
_ITEM = "seq, event, ts, currency, amount, txn, offer_id, paywall_id"
_PERSON = (
    "cohort_day, attributed, campaign_id, channel, ad_set_id, creative_id, country, offer_id,"
    " paywall_id, trial, paid, converted, renewals, paid_first_day, ended_day"
)
_COPIED = (
    "cohort_day, attributed, campaign_id, channel, ad_set_id, creative_id, country, offer_id,"
    " paywall_id"
)
_GROSS_LIST = ", ".join(f"'{e}'" for e in sorted(GROSS))


@dataclass(frozen=True, slots=True)
class CohortRows:
    """What the reports keep of one person."""

    key: str
    person: CohortPerson
    revenue: list[DayRevenue]


def save_items(m: ReadModels, ws: int, items: Iterable[tuple[str, Item]]) -> None:
    m.db.many(
        m.d.q(
            f"INSERT INTO report_items (workspace_id, owner, {_ITEM}) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, owner, seq) DO NOTHING"
        ),
        [(ws, owner, *astuple(i)) for owner, i in items],
    )


def items_of(m: ReadModels, ws: int, owners: Sequence[str]) -> dict[str, list[Item]]:
    found: dict[str, list[Item]] = {}
    sql = f"SELECT owner, {_ITEM} FROM report_items WHERE workspace_id = ? AND "
    for row in m.rows(sql + m.d.among("owner"), ws, m.d.as_list(owners)):
        found.setdefault(row[0], []).append(Item(*row[1:]))
    return found


def transaction_times(m: ReadModels, ws: int, txns: Iterable[str]) -> dict[str, int]:
    """The earliest gross event's timestamp of each transaction the workspace knows."""
    sql = (
        "SELECT txn, min(ts) FROM report_items WHERE workspace_id = ? AND txn IS NOT NULL AND "
        f"{m.d.among('txn')} AND event IN ({_GROSS_LIST}) GROUP BY txn"
    )
    return {txn: int(ts) for txn, ts in m.rows(sql, ws, m.d.as_list(txns))}


def refund_owners(m: ReadModels, ws: int, txns: Iterable[str]) -> set[str]:
    """The identities whose refunds name one of these transactions."""
    sql = (
        "SELECT DISTINCT owner FROM report_items WHERE workspace_id = ? AND txn IS NOT NULL AND "
        f"{m.d.among('txn')} AND event = '{REFUND}'"
    )
    return {row[0] for row in m.rows(sql, ws, m.d.as_list(txns))}


def save_cohorts(m: ReadModels, ws: int, rows: Sequence[CohortRows]) -> None:
    """Replace the report rows of these people."""
    if not rows:
        return
    delete_cohorts(m, ws, [r.key for r in rows], people=False)
    names = _PERSON.split(", ")
    updates = ", ".join(f"{n} = excluded.{n}" for n in names)
    m.db.many(
        m.d.q(
            f"INSERT INTO report_people (workspace_id, key, {_PERSON}) VALUES"
            f" (?, ?{', ?' * len(names)}) ON CONFLICT (workspace_id, key) DO UPDATE SET {updates}"
        ),
        [(ws, r.key, *astuple(r.person)) for r in rows],
    )
    copied = len(_COPIED.split(", "))
    m.db.many(
        m.d.q(
            "INSERT INTO report_revenue (workspace_id, key, day, currency, amount, events,"
            f" payments, {_COPIED}) VALUES (?, ?, ?, ?, ?, ?, ?{', ?' * copied})"
        ),
        [(ws, r.key, *astuple(d), *astuple(r.person)[:copied]) for r in rows for d in r.revenue],
    )


def delete_cohorts(m: ReadModels, ws: int, keys: Sequence[str], people: bool = True) -> None:
    tables = ("report_revenue", "report_people") if people else ("report_revenue",)
    for table in tables:
        m.rows(
            f"DELETE FROM {table} WHERE workspace_id = ? AND {m.d.among('key')}",
            ws,
            m.d.as_list(keys),
        )
