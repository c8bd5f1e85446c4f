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


def _rate(table: str) -> str:
    """The rate of a ``table`` row's day and currency into the reporting currency (the
    parameter), or NULL. A subquery rather than a join: it runs only for the rows that are not
    in the reporting currency already (a join looked up every row: 20% of a revenue report)."""
    return (
        f"(SELECT f.rate FROM fx_rates f WHERE f.workspace_id = {table}.workspace_id"
        f" AND f.day = {table}.day AND f.base = ? AND f.currency = {table}.currency)"
    )


def _converted(table: str) -> tuple[str, str]:
    """(amount in the reporting currency, 1 when it cannot be converted), each with two
    parameters, both the reporting currency."""
    rate = _rate(table)
    amount = (
        f"CASE WHEN {table}.currency = ? THEN {table}.amount"
        f" ELSE coalesce({table}.amount * {rate}, 0) END"
    )
    missing = f"CASE WHEN {table}.currency = ? THEN 0 WHEN {rate} IS NULL THEN 1 ELSE 0 END"
    return amount, missing


def _in_currency(m: ReadModels, sql: str, scope: Scope) -> list[tuple[Any, ...]]:
    """``sql``'s rows: every parameter is the reporting currency (``_rate``, ``_converted``)
    but the last three, the workspace and the first and last day."""
    currency = [scope.currency] * (sql.count("?") - 3)
    return m.rows(sql, *currency, scope.workspace_id, scope.start, scope.end)


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
        f" sum(CASE WHEN r.currency = ? OR {_rate('r')} IS NOT NULL THEN r.payments ELSE 0 END)"
        " FROM report_revenue r"
        " WHERE r.workspace_id = ? AND r.cohort_day >= ? AND r.cohort_day <= ? GROUP BY 1, 2"
    )
    return _in_currency(m, sql, scope)


def spend_by_group(m: ReadModels, scope: Scope, by_week: bool = False) -> list[tuple[Any, ...]]:
    """Per group (and week of the spend's day): spend in millionths of the reporting currency
    and the rows that had no rate."""
    col = f"s.{scope.group_by.column}"
    group = f"CASE WHEN {col} = '' THEN '{NONE}' ELSE {col} END"
    week = f", {_week('s.day')}" if by_week else ", 0"
    amount, missing = _converted("s")
    sql = (
        f"SELECT {group}{week}, sum({amount}), sum({missing}) FROM spend s"
        " WHERE s.workspace_id = ? AND s.day >= ? AND s.day <= ? GROUP BY 1, 2"
    )
    return _in_currency(m, sql, scope)


def weekly_people(m: ReadModels, scope: Scope) -> list[tuple[Any, ...]]:
    """Per (group, cohort week, paid, first paid day, end day): people and trials. One scan
    serves both the cohorts' counts and their subscribers (whose first paid and end days are
    NULL unless they paid, so the unpaid collapse into one row per cohort)."""
    sql = (
        f"SELECT {_group(scope)}, {_week('cohort_day')}, paid, paid_first_day, ended_day,"
        " count(*), sum(trial) FROM report_people WHERE workspace_id = ? AND cohort_day >= ?"
        " AND cohort_day <= ? GROUP BY 1, 2, 3, 4, 5"
    )
    return m.rows(sql, scope.workspace_id, scope.start, scope.end)


def weekly_revenue(m: ReadModels, scope: Scope, cap: int) -> list[tuple[Any, ...]]:
    """Per (group, cohort week, weeks since it, those past ``cap`` as ``cap``): net revenue
    converted, events unconverted. A curve never shows the weeks past its length: capping them
    in the query keeps their unconverted events counted but leaves Python fewer rows."""
    week = _week("r.cohort_day")
    since = (
        f"CASE WHEN r.day < {week} THEN 0 WHEN r.day >= {week} + {7 * cap} THEN {cap}"
        f" ELSE (r.day - {week}) / 7 END"
    )
    amount, missing = _converted("r")
    sql = (
        f"SELECT {_group(scope, 'r.')}, {week}, {since}, sum({amount}),"
        f" sum({missing} * r.events) FROM report_revenue r"
        " WHERE r.workspace_id = ? AND r.cohort_day >= ? AND r.cohort_day <= ? GROUP BY 1, 2, 3"
    )
    return _in_currency(m, sql, scope)
