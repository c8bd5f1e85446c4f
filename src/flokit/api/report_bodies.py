"""The bodies of the reports (analytics.md §5, §6) as typed structs: ``api/reports.py`` answers
with them and the OpenAPI document is generated from them (docs/reports.md says each field)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from flokit.api.bodies import AsOf, DateTime
from flokit.api.people import Rate
from flokit.api.spend_bodies import Day
from flokit.domain.payback import CohortWeek
from flokit.store.report_queries import GroupBy

Count = Annotated[int, Meta(ge=0)]
#: An amount in the reporting currency, or null where it cannot be computed.
Amount = float | None
MAX_WINDOW = 730
#: Weeks of curve a cohort shows: by default half a year, at most two.
DEFAULT_WEEKS, MAX_WEEKS = 26, 104
_GROUP_BY = Meta(description="The dimension rows are grouped by")


class PaybackParams(msgspec.Struct):
    """The query of ``GET /v1/reports/payback``."""

    start_date: Annotated[Day, Meta(description="First cohort day (YYYY-MM-DD)")]
    end_date: Annotated[Day, Meta(description="Last cohort day (YYYY-MM-DD)")]
    group_by: Annotated[GroupBy, _GROUP_BY] = GroupBy.CAMPAIGN
    cohort_window_days: Annotated[
        int, Meta(ge=1, le=MAX_WINDOW, description="The days payback_days looks at")
    ] = 30


class CohortParams(msgspec.Struct):
    """The query of ``GET /v1/reports/cohorts``."""

    cohort_start: Annotated[Day, Meta(description="First cohort day (YYYY-MM-DD)")]
    cohort_end: Annotated[Day, Meta(description="Last cohort day (YYYY-MM-DD)")]
    group_by: Annotated[GroupBy, _GROUP_BY] = GroupBy.CAMPAIGN
    weeks: Annotated[
        int, Meta(ge=1, le=MAX_WEEKS, description="Weeks of curve after the cohort week")
    ] = DEFAULT_WEEKS


class ReportMeta(msgspec.Struct, omit_defaults=True):
    currency: str
    group_by: GroupBy
    generated_at: DateTime
    as_of: AsOf
    latest_event_at: DateTime | None
    unconverted_events: Count
    ltv_method: str
    cohort_window_days: int | None = None  # the payback report's


class PaybackRow(msgspec.Struct):
    group: str
    users: Count
    installs: Count
    spend: Amount
    trials: Count
    trials_converted: Count
    subscriptions: Count
    renewals: Count
    cac: Amount
    trial_start_rate: Rate
    trial_conversion_rate: Rate
    renewal_rate: float | None
    revenue: float
    revenue_30d: float
    revenue_60d: float
    revenue_90d: float
    roas_30d: float | None
    roas_60d: float | None
    roas_90d: float | None
    payback_days: Annotated[int, Meta(ge=0)] | None
    ltv_projected: Amount


class Payback(msgspec.Struct):
    rows: list[PaybackRow]
    meta: ReportMeta


class CohortCurve(msgspec.Struct):
    group: str
    cohort_week: Day
    users: Count
    trials: Count
    subscriptions: Count
    spend: Amount
    weeks: list[CohortWeek]


class Cohorts(msgspec.Struct):
    cohorts: list[CohortCurve]
    meta: ReportMeta
