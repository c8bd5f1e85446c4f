"""``POST /v1/spend``, ``GET /v1/spend`` and ``POST /v1/fx-rates`` (analytics.md §3, §4).

Rows are checked one by one: the good ones are stored (upserted), each bad one is named in
``errors`` by its index, the way a batch of events answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from flokit.api.paging import check_params, param_names
from flokit.api.spend_bodies import MAX_ROWS, RowsAnswer, SpendPage, SpendParams, SpendRowBody
from flokit.domain.calendar import format_day, parse_day
from flokit.domain.spend import BadRow, RowError, SpendRow, fx_rate, spend_row
from flokit.errors import InvalidRequest
from flokit.http import json_response, note
from flokit.model import ApiKey
from flokit.pipeline.auth import authenticate, require_write
from flokit.pipeline.decode import decode_array
from flokit.pipeline.receive import check_media_type, read_body
from flokit.services import Services, services

#: The longest range ``GET /v1/spend`` answers at once (a little over ten years).
MAX_RANGE_DAYS = 3_700
T = TypeVar("T")


async def post_spend(request: Request) -> Response:
    """Upsert up to 10,000 spend rows."""
    note(request, route="spend_post")
    svc, key, raws = await _rows_of(request)
    currency = await svc.store.reporting_currency(key.workspace_id)
    good, errors = _check(raws, lambda raw: spend_row(raw, currency))
    if good:
        await svc.store.put_spend(key.workspace_id, good, svc.now_us())
    return _answer(len(good), errors)


async def post_fx_rates(request: Request) -> Response:
    """Upsert up to 10,000 daily exchange rates."""
    note(request, route="fx_rates_post")
    svc, key, raws = await _rows_of(request)
    currency = await svc.store.reporting_currency(key.workspace_id)
    good, errors = _check(raws, lambda raw: fx_rate(raw, currency))
    if good:
        await svc.store.put_fx_rates(key.workspace_id, good)
    return _answer(len(good), errors)


async def get_spend(request: Request) -> Response:
    """The spend rows of [start_date, end_date], by day and dimensions."""
    note(request, route="spend_get")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    first, last = param_names(SpendParams)
    start, end = date_range(request.query_params, first, last, MAX_RANGE_DAYS)
    rows = await svc.store.spend_between(key.workspace_id, start, end)
    currency = await svc.store.reporting_currency(key.workspace_id)
    return json_response(SpendPage([spend_body(r) for r in rows], currency))


def spend_body(row: SpendRow) -> SpendRowBody:
    return SpendRowBody(
        date=format_day(row.day),
        channel=row.channel,
        campaign_id=row.campaign_id,
        ad_set_id=row.ad_set_id or None,
        creative_id=row.creative_id or None,
        country=row.country or None,
        spend=round(row.amount / 1_000_000, 6),
        currency=row.currency,
    )


def date_range(
    params: Mapping[str, str], first: str, last: str, max_days: int, extra: tuple[str, ...] = ()
) -> tuple[int, int]:
    """Two required dates; a 400 naming the parameter that is missing, not a date, or ends
    the range before it starts or too far after."""
    check_params(params, (first, last, *extra))
    start, end = _date(params, first), _date(params, last)
    if end < start:
        raise InvalidRequest(f"{last} is before {first}", field=last)
    if end - start >= max_days:
        raise InvalidRequest(f"the range may span at most {max_days} days", field=last)
    return start, end


def _date(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name)
    if raw is None:
        raise InvalidRequest(f"{name} is required (YYYY-MM-DD)", field=name)
    day = parse_day(raw)
    if day is None:
        raise InvalidRequest(f"{name} must be a date YYYY-MM-DD", field=name)
    return day


async def _rows_of(request: Request) -> tuple[Services, ApiKey, list[Any]]:
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    require_write(key)
    gzipped = check_media_type(request.headers)
    body = await read_body(request.headers, request.stream(), svc.settings.max_body_bytes, gzipped)
    raws = [msgspec.json.decode(raw) for raw in decode_array(body, "rows", "row", MAX_ROWS)]
    return svc, key, raws


def _check(raws: list[Any], parse: Callable[[Any], T]) -> tuple[list[T], list[RowError]]:
    good: list[T] = []
    errors: list[RowError] = []
    for index, raw in enumerate(raws):
        try:
            good.append(parse(raw))
        except BadRow as bad:
            errors.append(RowError(index, bad.reason, bad.field))
    return good, errors


def _answer(accepted: int, errors: list[RowError]) -> Response:
    return json_response(RowsAnswer("ok", accepted, len(errors), errors))
