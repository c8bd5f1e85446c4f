"""``GET /v1/events`` and ``GET /v1/events/{event_id}``: "Data → Events" (read-back)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from flokit.api.bodies import DateTime, Event, EventPage
from flokit.api.paging import (
    CursorParam,
    check_params,
    decode_cursor,
    encode_cursor,
    page_limit,
    param_names,
    split_page,
)
from flokit.errors import InvalidRequest, NotFound
from flokit.http import json_response, note
from flokit.model import EventQuery, StoredEvent
from flokit.pipeline.auth import authenticate
from flokit.pipeline.ids import ID_PATTERN
from flokit.services import services
from flokit.timestamps import format_iso, parse_iso

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
_EVENT_ID = re.compile(ID_PATTERN)
_CURSOR = re.compile(r"s([0-9]{1,18})")  # the seq of the last event shown
_EMPTY = msgspec.Raw(b"{}")


class EventsParams(msgspec.Struct):
    """The query of ``GET /v1/events``."""

    event: Annotated[str | None, Meta(description="Only this event name")] = None
    user_id: Annotated[str | None, Meta(description="Only this user (and their linked ids)")] = None
    anonymous_id: Annotated[str | None, Meta(description="Only this anonymous id")] = None
    since: Annotated[DateTime | None, Meta(description="Event timestamp at or after")] = None
    until: Annotated[DateTime | None, Meta(description="Event timestamp before")] = None
    limit: Annotated[int, Meta(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT
    cursor: CursorParam = None


def event_body(event: StoredEvent) -> Event:
    """An event as the API shows it: timestamps in UTC ISO 8601, properties as stored."""
    return Event(
        event_id=event.event_id,
        event=event.event,
        user_id=event.user_id,
        anonymous_id=event.anonymous_id,
        timestamp=format_iso(event.timestamp_us),
        received_at=format_iso(event.received_us),
        properties=msgspec.Raw(event.properties) if event.properties else _EMPTY,
        insert_id=event.insert_id,
    )


async def list_events(request: Request) -> Response:
    """A page of the workspace's events, most recently received first, with a stable cursor."""
    note(request, route="events_list")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    query = parse_query(request.query_params, key.workspace_id)
    # One row more than asked tells whether a next page exists.
    page, last = split_page(
        await svc.store.query_events(replace(query, limit=query.limit + 1)), query.limit
    )
    cursor = encode_cursor(f"s{last.seq}") if last else None
    return json_response(EventPage([event_body(e) for e in page], cursor))


async def get_event(request: Request) -> Response:
    """One event of the caller's workspace, or 404."""
    note(request, route="events_get")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    event_id = request.path_params["event_id"]
    found = None
    if _EVENT_ID.fullmatch(event_id):
        found = await svc.store.get_event(key.workspace_id, event_id)
    if found is None:
        raise NotFound(f"No event {event_id} in this workspace")
    return json_response(event_body(found))


def parse_query(params: Mapping[str, str], workspace_id: int) -> EventQuery:
    """The query string as an ``EventQuery``, or a 400 naming the parameter at fault."""
    check_params(params, param_names(EventsParams))
    cursor = decode_cursor(params.get("cursor"), _CURSOR)
    return EventQuery(
        workspace_id=workspace_id,
        limit=page_limit(params.get("limit"), DEFAULT_LIMIT, MAX_LIMIT),
        before_seq=int(cursor[1]) if cursor else None,
        event=_text(params, "event"),
        user_id=_text(params, "user_id"),
        anonymous_id=_text(params, "anonymous_id"),
        since_us=_time(params, "since"),
        until_us=_time(params, "until"),
    )


def _text(params: Mapping[str, str], name: str) -> str | None:
    """A filter value; NUL is no part of any stored value (and PostgreSQL refuses it)."""
    value = params.get(name) or None
    if value is not None and "\x00" in value:
        raise InvalidRequest(f"{name} cannot contain the NUL character", field=name)
    return value


def _time(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    micros = parse_iso(raw)
    if micros is None:
        raise InvalidRequest(
            f"{name} must be an ISO 8601 date-time with a timezone, like 2024-03-15T14:20:00Z",
            field=name,
        )
    return micros
