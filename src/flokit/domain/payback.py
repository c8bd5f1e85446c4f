"""The payback and cohort reports' figures from grouped sums (analytics.md §5, §6). Pure: the
store aggregates, this module applies the definitions (the README's "Reports" section says
each one in words)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from flokit.domain.calendar import format_day

#: The revenue horizons reported as ``revenue_Nd`` and ``roas_Nd``.
HORIZONS = (30, 60, 90)
#: Monthly periods in the LTV projection's year.
LTV_PERIODS = 12
LTV_METHOD = (
    "net revenue per payment x (1 + r + ... + r^11), r = renewals / renewals due, a renewal"
    " falling due every 30 days after the first paid start up to the newest event"
)
MICROS = 1_000_000


@dataclass
class GroupSums:
    """What the store summed for one group of the payback report."""

    users: int = 0
    installs: int = 0
    trials: int = 0
    converted: int = 0
    subscriptions: int = 0
    renewals: int = 0
    renewals_due: int = 0
    payments: int = 0
    spend: float | None = None  # reporting currency (None: cannot be split to this group)
    by_age: dict[int, float] = field(default_factory=dict)  # day since cohort date -> revenue


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole else None


def _money(micros: float) -> float:
    return round(micros / MICROS, 6)


def payback_row(group: str, s: GroupSums, window: int) -> dict[str, Any]:
    """One row of ``GET /v1/reports/payback``."""
    spend = None if s.spend is None else s.spend / MICROS
    cumulative, total = [], 0.0
    for age in range(window + 1):
        total += s.by_age.get(age, 0.0)
        cumulative.append(total)
    within = {n: sum(v for age, v in s.by_age.items() if age <= n) for n in HORIZONS}
    revenue = sum(s.by_age.values())
    row: dict[str, Any] = {
        "group": group,
        "users": s.users,
        "installs": s.installs,
        "spend": None if spend is None else round(spend, 6),
        "trials": s.trials,
        "trials_converted": s.converted,
        "subscriptions": s.subscriptions,
        "renewals": s.renewals,
        "cac": _ratio(spend, s.subscriptions) if spend is not None else None,
        "trial_start_rate": _ratio(s.trials, s.installs),
        "trial_conversion_rate": _ratio(s.converted, s.trials),
        "renewal_rate": _ratio(s.renewals, s.subscriptions),
        "revenue": _money(revenue),
    }
    for n in HORIZONS:
        row[f"revenue_{n}d"] = _money(within[n])
    for n in HORIZONS:
        row[f"roas_{n}d"] = _ratio(within[n] / MICROS, spend) if spend else None
    row["payback_days"] = _payback_day(cumulative, spend)
    row["ltv_projected"] = _ltv(s, revenue)
    return row


def _payback_day(cumulative: list[float], spend: float | None) -> int | None:
    """The first day whose cumulative net revenue reaches the spend (none without spend)."""
    if not spend:
        return None
    target = spend * MICROS
    return next((day for day, value in enumerate(cumulative) if value >= target), None)


def _ltv(s: GroupSums, revenue: float) -> float | None:
    if not s.renewals_due or not s.payments:
        return None
    rate = min(1.0, s.renewals / s.renewals_due)
    payments = sum(rate**k for k in range(LTV_PERIODS))
    return _money(revenue / s.payments * payments)


@dataclass
class CohortSums:
    """What the store summed for one (group, cohort week)."""

    users: int = 0
    trials: int = 0
    subscriptions: int = 0
    spend: float | None = None
    #: (first paid day, end day or None, subscribers)
    subscribers: list[tuple[int, int | None, int]] = field(default_factory=list)
    by_week: dict[int, float] = field(default_factory=lambda: defaultdict(float))


class CohortWeek(msgspec.Struct):
    """One week of a cohort's curve, as the API answers it (built here, once per cell: a
    quarter of cohorts by ad set is 250,000 of them)."""

    week: Annotated[int, Meta(ge=0)]
    active_subscribers: Annotated[int, Meta(ge=0)]
    cumulative_net_revenue: float
    cumulative_net_revenue_per_user: float | None


def cohort_row(group: str, week: int, s: CohortSums, weeks: int) -> dict[str, Any]:
    """One cohort of ``GET /v1/reports/cohorts``, with ``weeks + 1`` weeks of curve."""
    active = _active_by_week(week, s.subscribers, weeks)
    curve: list[CohortWeek] = []
    total, money, per_user = 0.0, 0.0, _money(0.0) if s.users else None
    for k in range(weeks + 1):
        gained = s.by_week.get(k)
        if gained:  # most weeks add nothing: their rounded figures are the week before's
            total += gained
            money = _money(total)
            per_user = _money(total / s.users) if s.users else None
        curve.append(CohortWeek(k, active[k], money, per_user))
    return {
        "group": group,
        "cohort_week": format_day(week),
        "users": s.users,
        "trials": s.trials,
        "subscriptions": s.subscriptions,
        "spend": None if s.spend is None else _money(s.spend),
        "weeks": curve,
    }


def _active_by_week(
    week: int, subscribers: list[tuple[int, int | None, int]], weeks: int
) -> list[int]:
    """Subscribers active at the end of each week k (day ``week + 7k + 6``): paid on or before
    it, not ended on or before it. Each subscriber adds to a run of weeks [from, to)."""
    change = [0] * (weeks + 2)
    for first, ended, n in subscribers:
        start = max(0, _weeks_until(first - week))
        stop = weeks + 1 if ended is None else min(weeks + 1, _weeks_until(ended - week))
        if start < stop:
            change[start] += n
            change[stop] -= n
    active, running = [], 0
    for k in range(weeks + 1):
        running += change[k]
        active.append(running)
    return active


def _weeks_until(days: int) -> int:
    """The first week k whose last day (``7k + 6`` days after the cohort week starts) is at
    least ``days``."""
    return -(-(days - 6) // 7)
