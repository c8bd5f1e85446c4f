"""``GET /v1/reports/payback`` and ``GET /v1/reports/cohorts`` (analytics.md §5, §6), read from
the reports' read models in one snapshot with the spend and rates (any key of the workspace)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from flokit.api.paging import page_limit, param_names
from flokit.api.report_bodies import (
    DEFAULT_WEEKS,
    MAX_WEEKS,
    MAX_WINDOW,
    CohortCurve,
    CohortParams,
    Cohorts,
    Payback,
    PaybackParams,
    PaybackRow,
    ReportMeta,
)
from flokit.api.spend import date_range
from flokit.domain.calendar import day_of
from flokit.domain.payback import (
    HORIZONS,
    LTV_METHOD,
    CohortSums,
    GroupSums,
    cohort_row,
    payback_row,
)
from flokit.errors import InvalidRequest
from flokit.http import json_response, note
from flokit.pipeline.auth import authenticate
from flokit.services import services
from flokit.store import report_queries as rq
from flokit.store.readmodel_queries import ReadQueries
from flokit.store.report_queries import GroupBy, Scope
from flokit.timestamps import format_iso

DEFAULT_WINDOW = 30
#: The longest cohort-date ranges, in days: about three years of payback, two of curves.
MAX_PAYBACK_DAYS = 1_100
MAX_COHORT_DAYS = 731


async def payback(request: Request) -> Response:
    note(request, route="reports_payback")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    params = request.query_params
    first, last, *others = param_names(PaybackParams)
    start, end = date_range(params, first, last, MAX_PAYBACK_DAYS, tuple(others))
    group_by = _group_by(params)
    window_name = "cohort_window_days"
    window = page_limit(params.get(window_name), DEFAULT_WINDOW, MAX_WINDOW, window_name)
    currency = await svc.store.reporting_currency(key.workspace_id)
    scope = Scope(key.workspace_id, start, end, group_by, currency)

    cap = max(window, max(HORIZONS)) + 1
    as_of, (latest, sums), revenue = await svc.store.read_models_pair(
        lambda q: _payback_people(q, scope), lambda q: rq.revenue_by_age(q, scope, cap)
    )

    def answer() -> Payback:
        unconverted = _add_revenue_by_age(sums, revenue)
        rows = [PaybackRow(**payback_row(g, s, window)) for g, s in sorted(sums.items())]
        meta = _meta(scope, as_of, latest, unconverted, svc.now_us())
        meta.cohort_window_days = window
        return Payback(rows, meta)

    return json_response(await asyncio.to_thread(answer))


def _payback_people(q: ReadQueries, scope: Scope) -> tuple[int | None, dict[str, GroupSums]]:
    """The newest event's time, and each group's counts and spend (all but revenue)."""
    latest = rq.latest_seen(q, scope.workspace_id)
    sums: dict[str, GroupSums] = defaultdict(GroupSums)
    latest_day = day_of(latest) if latest is not None else scope.end
    for g, users, installs, trials, converted, paid, renewals, due in rq.cohort_counts(
        q, scope, latest_day
    ):
        s = sums[g]
        s.users, s.installs, s.trials, s.converted = users, installs, trials, converted
        s.subscriptions, s.renewals, s.renewals_due = paid, renewals, due
    if scope.group_by.has_spend:
        for s in sums.values():
            s.spend = 0.0
        for g, _, amount, _missing in rq.spend_by_group(q, scope):
            sums[g].spend = float(amount or 0)
    return latest, sums


def _add_revenue_by_age(sums: dict[str, GroupSums], revenue: list[tuple[Any, ...]]) -> int:
    """Fold ``rq.revenue_by_age``'s rows into the groups; the unconverted events."""
    unconverted = 0
    for g, age, amount, missing, payments in revenue:
        s = sums[g]  # revenue of a cohort's people: the group has them (or is made here)
        s.by_age[int(age)] = float(amount or 0)
        s.payments += int(payments or 0)
        unconverted += int(missing or 0)
    return unconverted


async def cohorts(request: Request) -> Response:
    note(request, route="reports_cohorts")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    params = request.query_params
    first, last, *others = param_names(CohortParams)
    start, end = date_range(params, first, last, MAX_COHORT_DAYS, tuple(others))
    group_by = _group_by(params)
    most = page_limit(params.get("weeks"), DEFAULT_WEEKS, MAX_WEEKS, "weeks")
    currency = await svc.store.reporting_currency(key.workspace_id)
    scope = Scope(key.workspace_id, start, end, group_by, currency)

    as_of, (latest, sums), revenue = await svc.store.read_models_pair(
        lambda q: _cohort_people(q, scope), lambda q: rq.weekly_revenue(q, scope, most + 1)
    )

    def answer() -> Cohorts:
        unconverted = _add_weekly_revenue(sums, revenue)
        latest_day = day_of(latest) if latest is not None else scope.end
        rows = [
            CohortCurve(**cohort_row(g, week, s, min(most, max(0, (latest_day - week) // 7))))
            for (g, week), s in sorted(sums.items())
        ]
        return Cohorts(rows, _meta(scope, as_of, latest, unconverted, svc.now_us()))

    return json_response(await asyncio.to_thread(answer))


def _cohort_people(
    q: ReadQueries, scope: Scope
) -> tuple[int | None, dict[tuple[str, int], CohortSums]]:
    """The newest event's time, and each (group, cohort week)'s people, subscribers and
    spend (all but revenue)."""
    latest = rq.latest_seen(q, scope.workspace_id)
    sums: dict[tuple[str, int], CohortSums] = defaultdict(CohortSums)
    for g, week, paid, first, ended, people, trials in rq.weekly_people(q, scope):
        s = sums[(g, week)]
        s.users += people
        s.trials += int(trials or 0)
        if paid:
            s.subscriptions += people
            s.subscribers.append((first, ended, people))
    if scope.group_by.has_spend:
        for s in sums.values():
            s.spend = 0.0
        for g, week, amount, _missing in rq.spend_by_group(q, scope, by_week=True):
            if (g, week) in sums:
                sums[(g, week)].spend = float(amount or 0)
    return latest, sums


def _add_weekly_revenue(
    sums: dict[tuple[str, int], CohortSums], revenue: list[tuple[Any, ...]]
) -> int:
    """Fold ``rq.weekly_revenue``'s rows into the cohorts; the unconverted events. Weeks past
    the query's cap come summed as the cap, past every curve's end."""
    unconverted = 0
    for g, week, since, amount, missing in revenue:
        sums[(g, week)].by_week[int(since)] += float(amount or 0)
        unconverted += int(missing or 0)
    return unconverted


def _meta(
    scope: Scope, as_of: int, latest: int | None, unconverted: int, now_us: int
) -> ReportMeta:
    return ReportMeta(
        currency=scope.currency,
        group_by=scope.group_by,
        generated_at=format_iso(now_us),
        as_of=as_of,
        latest_event_at=format_iso(latest) if latest is not None else None,
        unconverted_events=unconverted,
        ltv_method=LTV_METHOD,
    )


def _group_by(params: Mapping[str, str]) -> GroupBy:
    raw = params.get("group_by", GroupBy.CAMPAIGN.value)
    try:
        return GroupBy(raw)
    except ValueError:
        names = ", ".join(g.value for g in GroupBy)
        raise InvalidRequest(f"group_by must be one of {names}", field="group_by") from None
