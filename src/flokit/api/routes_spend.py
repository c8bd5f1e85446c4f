"""The route table's spend and exchange-rate endpoints (analytics.md §3, §4); their bodies are
the structs of ``api/spend_bodies.py``."""

from __future__ import annotations

from flokit.api import spend
from flokit.api.spend_bodies import FxRows, RowsAnswer, SpendPage, SpendParams, SpendRows
from flokit.api.table import JSON, Access, Endpoint, json_reply
from flokit.errors import (
    BatchTooLarge,
    InvalidJson,
    InvalidRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from flokit.settings import Settings

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
