"""The route table's spend and exchange-rate endpoints (analytics.md §3, §4); the structs
describe the rows ``api/spend.py`` takes and answers."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from flokit.api import spend
from flokit.api.table import JSON, Access, Endpoint, json_reply
from flokit.domain.spend import MAX_SPEND, RowError
from flokit.errors import (
    BatchTooLarge,
    InvalidJson,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from flokit.settings import Settings

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
    rows: Annotated[list[SpendRowBody], Meta(min_length=1, max_length=spend.MAX_ROWS)]


class FxRows(msgspec.Struct):
    rows: Annotated[list[FxRateBody], Meta(min_length=1, max_length=spend.MAX_ROWS)]


class RowsAnswer(msgspec.Struct):
    """Rows stored, and one error per row refused (by its index)."""

    status: str
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


_UPLOAD_ERRORS = (InvalidJson, InvalidRequest, BatchTooLarge, PayloadTooLarge, UnsupportedMediaType)


def _spend_rows(settings: Settings) -> dict[str, type]:
    return {JSON: SpendRows}


def _fx_rows(settings: Settings) -> dict[str, type]:
    return {JSON: FxRows}


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/v1/spend",
        spend.post_spend,
        "Upsert up to 10,000 daily spend rows (a restated day replaces it)",
        Access.WRITE,
        {200: json_reply(RowsAnswer, "Rows stored and rows refused")},
        _UPLOAD_ERRORS,
        body=_spend_rows,
    ),
    Endpoint(
        "GET",
        "/v1/spend",
        spend.get_spend,
        "The spend rows of a date range",
        Access.READ,
        {200: json_reply(SpendPage, "The rows")},
        (InvalidRequest,),
        params=SpendParams,
    ),
    Endpoint(
        "POST",
        "/v1/fx-rates",
        spend.post_fx_rates,
        "Upsert up to 10,000 daily exchange rates into the reporting currency",
        Access.WRITE,
        {200: json_reply(RowsAnswer, "Rows stored and rows refused")},
        _UPLOAD_ERRORS,
        body=_fx_rows,
    ),
]
