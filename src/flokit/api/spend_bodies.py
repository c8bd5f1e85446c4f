"""The bodies of spend and exchange rates (analytics.md §3, §4): the rows ``api/spend.py``
takes and answers, as typed structs (the OpenAPI document is generated from them)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from flokit.domain.spend import MAX_SPEND, RowError

#: The most rows one request may carry.
MAX_ROWS = 10_000
Day = Annotated[str, Meta(extra_json_schema={"format": "date"})]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$")]


class SpendRowBody(msgspec.Struct):
    """One day's spend of one campaign (and ad set, creative, country)."""

    date: Day
    channel: str
    campaign_id: str
    spend: Annotated[float, Meta(ge=0, le=MAX_SPEND)]
    ad_set_id: str | None = None
    creative_id: str | None = None
    country: str | None = None
    currency: Currency | None = None


class FxRateBody(msgspec.Struct):
    """One day's rate of ``currency`` into the reporting currency (or ``base``)."""

    date: Day
    currency: Currency
    rate: Annotated[float, Meta(gt=0)]
    base: Currency | None = None


class SpendRows(msgspec.Struct):
    rows: Annotated[list[SpendRowBody], Meta(min_length=1, max_length=MAX_ROWS)]


class FxRows(msgspec.Struct):
    rows: Annotated[list[FxRateBody], Meta(min_length=1, max_length=MAX_ROWS)]


class RowsAnswer(msgspec.Struct):
    """Rows stored, and one error per row refused (by its index)."""

    status: Literal["ok"]
    accepted: int
    rejected: int
    errors: list[RowError]


class SpendPage(msgspec.Struct):
    rows: list[SpendRowBody]
    currency: str


class SpendParams(msgspec.Struct):
    """The query of ``GET /v1/spend``: both days required."""

    start_date: Annotated[Day, Meta(description="First day (YYYY-MM-DD)")]
    end_date: Annotated[Day, Meta(description="Last day (YYYY-MM-DD)")]
