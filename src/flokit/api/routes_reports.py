"""The route table's report endpoints (analytics.md §5, §6); their bodies are the structs of
``api/report_bodies.py``."""

from __future__ import annotations

from flokit.api import reports
from flokit.api.report_bodies import CohortParams, Cohorts, Payback, PaybackParams
from flokit.api.table import Access, Endpoint, json_reply
from flokit.errors import InvalidRequest

ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/v1/reports/payback",
        reports.payback,
        "Cohorts by group: spend, trials, conversion, net revenue, ROAS, payback, LTV",
        Access.READ,
        {200: json_reply(Payback, "The report")},
        (InvalidRequest,),
        params=PaybackParams,
    ),
    Endpoint(
        "GET",
        "/v1/reports/cohorts",
        reports.cohorts,
        "Weekly cohorts: active subscribers and cumulative net revenue per week since",
        Access.READ,
        {200: json_reply(Cohorts, "The curves")},
        (InvalidRequest,),
        params=CohortParams,
    ),
]
