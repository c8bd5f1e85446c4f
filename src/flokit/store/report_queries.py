"""What the reports ask of the read models, spend and exchange rates (both backends), inside
the read API's snapshot. Each query aggregates in the database and returns a few thousand rows
at most: grouped counts, net revenue by (group, age) already converted into the reporting
currency, spend by group. The rules of what those sums mean are ``domain.payback``'s."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flokit.store.readmodel_sql import ReadModels

UNATTRIBUTED, NONE = "(unattributed)", "(none)"
#: A renewal period, in days, for the renewals due (the LTV's method).
PERIOD_DAYS = 30


class GroupBy(StrEnum):
    CAMPAIGN = "campaign"
    CREATIVE = "creative"
    COUNTRY = "country"
    OFFER = "offer"
    PAYWALL = "paywall"
    CHANNEL = "channel"
    AD_SET = "ad_set"

    @property
    def column(self) -> str:
        return {"ad_set": "ad_set_id", "offer": "offer_id", "paywall": "paywall_id"}.get(
            self.value, self.value if self.value in ("channel", "country") else f"{self}_id"
        )

    @property
    def has_spend(self) -> bool:
        """Spend rows carry this dimension (not offers and paywalls)."""
        return self not in (GroupBy.OFFER, GroupBy.PAYWALL)


@dataclass(frozen=True, slots=True)
class Scope:
    """A report's workspace, cohort days [start, end], grouping and currency."""

    workspace_id: int
    start: int
    end: int
    group_by: GroupBy
    currency: str


def _group(scope: Scope, table: str = "") -> str:
    col = f"{table}{scope.group_by.column}"
    return (
        f"CASE WHEN {table}attributed = 0 THEN '{UNATTRIBUTED}' ELSE coalesce({col}, '{NONE}') END"
    )


def _week(day: str) -> str:
    """The Monday of ``day``'s week (day 0, 1970-01-01, was a Thursday; days from 1969-12-29
    on, where integer division is the floor; no ``%``, which the drivers read differently)."""
    return f"((({day} + 3) / 7) * 7 - 3)"


def _converted(table: str) -> tuple[str, str]:
    """(amount in the reporting currency, 1 when it cannot be converted; each takes the
    reporting currency as its parameter), for a ``table`` joined to its rate as ``f``."""
    amount = (
        f"CASE WHEN {table}.currency = ? THEN {table}.amount WHEN f.rate IS NOT NULL"
        f" THEN {table}.amount * f.rate ELSE 0 END"
    )
    missing = f"CASE WHEN {table}.currency <> ? AND f.rate IS NULL THEN 1 ELSE 0 END"
    return amount, missing


def _rate_join(table: str) -> str:
    return (
        f" LEFT JOIN fx_rates f ON f.workspace_id = {table}.workspace_id AND f.day = {table}.day"
        f" AND f.base = ? AND f.currency = {table}.currency"
    )


def latest_seen(m: ReadModels, ws: int) -> int | None:
    """The newest event timestamp the read models hold (us)."""
    rows = m.rows("SELECT max(last_seen) FROM people WHERE workspace_id = ?", ws)
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


def cohort_counts(m: ReadModels, scope: Scope, latest: int) -> list[tuple[Any, ...]]:
    """Per group: users, installs, trials, converted, subscriptions, renewals, renewals due."""
    due = f"({latest} - paid_first_day) / {PERIOD_DAYS}"
    sql = (
        f"SELECT {_group(scope)}, count(*), sum(attributed), sum(trial), sum(converted),"
        f" sum(paid), sum(renewals), sum(CASE WHEN paid = 1 THEN CASE WHEN renewals > {due}"
        f" THEN renewals ELSE {due} END ELSE 0 END) FROM report_people"
        " WHERE workspace_id = ? AND cohort_day >= ? AND cohort_day <= ? GROUP BY 1"
    )
    return m.rows(sql, scope.workspace_id, scope.start, scope.end)


def revenue_by_age(m: ReadModels, scope: Scope, cap: int) -> list[tuple[Any, ...]]:
    """Per (group, age in days since the cohort date, ages past ``cap`` as ``cap``): net
    revenue in millionths of the reporting currency, revenue events that had no rate, and
    payments converted."""
    age = "r.day - r.cohort_day"
    amount, missing = _converted("r")
    sql = (
        f"SELECT {_group(scope, 'r.')}, CASE WHEN {age} < 0 THEN 0 WHEN {age} > {cap}"
        f" THEN {cap} ELSE {age} END, sum({amount}), sum({missing} * r.events),"
        f" sum(CASE WHEN f.rate IS NOT NULL OR r.currency = ? THEN r.payments ELSE 0 END)"
        f" FROM report_revenue r{_rate_join('r')}"
        " WHERE r.workspace_id = ? AND r.cohort_day >= ? AND r.cohort_day <= ? GROUP BY 1, 2"
    )
    c = scope.currency
    return m.rows(sql, c, c, c, c, scope.workspace_id, scope.start, scope.end)


def spend_by_group(m: ReadModels, scope: Scope, by_week: bool = False) -> list[tuple[Any, ...]]:
    """Per group (and week of the spend's day): spend in millionths of the reporting currency
    and the rows that had no rate."""
    col = f"s.{scope.group_by.column}"
    group = f"CASE WHEN {col} = '' THEN '{NONE}' ELSE {col} END"
    week = f", {_week('s.day')}" if by_week else ", 0"
    amount, missing = _converted("s")
    sql = (
        f"SELECT {group}{week}, sum({amount}), sum({missing}) FROM spend s{_rate_join('s')}"
        " WHERE s.workspace_id = ? AND s.day >= ? AND s.day <= ? GROUP BY 1, 2"
    )
    c = scope.currency
    return m.rows(sql, c, c, c, scope.workspace_id, scope.start, scope.end)


def weekly_counts(m: ReadModels, scope: Scope) -> list[tuple[Any, ...]]:
    """Per (group, cohort week): users, trials, subscriptions."""
    sql = (
        f"SELECT {_group(scope)}, {_week('cohort_day')}, count(*), sum(trial), sum(paid)"
        " FROM report_people WHERE workspace_id = ? AND cohort_day >= ? AND cohort_day <= ?"
        " GROUP BY 1, 2"
    )
    return m.rows(sql, scope.workspace_id, scope.start, scope.end)


def weekly_subscribers(m: ReadModels, scope: Scope) -> list[tuple[Any, ...]]:
    """Per (group, cohort week, first paid day, end day): paying subscribers."""
    sql = (
        f"SELECT {_group(scope)}, {_week('cohort_day')}, paid_first_day, ended_day, count(*)"
        " FROM report_people WHERE workspace_id = ? AND cohort_day >= ? AND cohort_day <= ?"
        " AND paid = 1 GROUP BY 1, 2, 3, 4"
    )
    return m.rows(sql, scope.workspace_id, scope.start, scope.end)


def weekly_revenue(m: ReadModels, scope: Scope) -> list[tuple[Any, ...]]:
    """Per (group, cohort week, weeks since it): net revenue converted, events unconverted."""
    week = _week("r.cohort_day")
    since = f"CASE WHEN r.day < {week} THEN 0 ELSE (r.day - {week}) / 7 END"
    amount, missing = _converted("r")
    sql = (
        f"SELECT {_group(scope, 'r.')}, {week}, {since}, sum({amount}),"
        f" sum({missing} * r.events) FROM report_revenue r{_rate_join('r')}"
        " WHERE r.workspace_id = ? AND r.cohort_day >= ? AND r.cohort_day <= ? GROUP BY 1, 2, 3"
    )
    c = scope.currency
    return m.rows(sql, c, c, c, scope.workspace_id, scope.start, scope.end)
