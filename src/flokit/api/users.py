"""Data → Users and Data → Identity: people, profiles, merged timelines, identity health.

Every answer reads the read models in one snapshot and says ``as_of``: the log position the
projection had reached (events above it may not be reflected yet)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from flokit.api.events import event_body
from flokit.api.paging import (
    CursorParam,
    check_params,
    decode_cursor,
    encode_cursor,
    page_limit,
    param_names,
    split_page,
)
from flokit.api.people import (
    NEWEST_CONFLICTS,
    Conflicts,
    IdentityHealth,
    PeoplePage,
    PersonKind,
    Profile,
    Timeline,
    conflict_body,
    person_body,
    profile_body,
)
from flokit.errors import InvalidRequest, NotFound
from flokit.http import json_response, note
from flokit.pipeline.auth import authenticate
from flokit.pipeline.validate import MAX_ID_CHARS
from flokit.services import services
from flokit.store.readmodel_queries import Order, PeopleQuery, ReadQueries, TimelineQuery

MAX_LIMIT = 1000
PEOPLE_LIMIT, TIMELINE_LIMIT = 50, 100  # the default page sizes
MAX_ID = MAX_ID_CHARS  # no stored id is longer
_PEOPLE_CURSOR = re.compile(r"p(-?[0-9]{1,19}):([ua]):(.*)", re.DOTALL)
_TIMELINE_CURSOR = re.compile(r"t(-?[0-9]{1,19}):([0-9]{1,19})")
_KINDS = {PersonKind.USER: "u", PersonKind.ANONYMOUS: "a"}
_Limit = Meta(ge=1, le=MAX_LIMIT, description="Page size")


class PeopleParams(msgspec.Struct):
    """The query of ``GET /v1/users``."""

    q: Annotated[
        Annotated[str, Meta(max_length=MAX_ID)] | None,
        Meta(description="Prefix of a user or anonymous id"),
    ] = None
    kind: Annotated[PersonKind | None, Meta(description="Only users or visitors")] = None
    limit: Annotated[int, _Limit] = PEOPLE_LIMIT
    cursor: CursorParam = None


class TimelineParams(msgspec.Struct):
    """The query of ``GET /v1/users/{user_id}/events``."""

    order: Annotated[Order, Meta(description="By event timestamp")] = Order.DESC
    limit: Annotated[int, _Limit] = TIMELINE_LIMIT
    cursor: CursorParam = None


class NoParams(msgspec.Struct):
    """An endpoint that takes no query parameters."""


async def list_users(request: Request) -> Response:
    """People (users and anonymous visitors), most recently active first."""
    note(request, route="users_list")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    query = _people_query(request.query_params, key.workspace_id)

    def work(q: ReadQueries, as_of: int) -> PeoplePage:
        page, last = split_page(q.people_page(replace(query, limit=query.limit + 1)), query.limit)
        users = [p.id for p in page if p.kind == "u"]
        anons = q.anons_of(query.workspace_id, users) if users else {}
        cursor = encode_cursor(f"p{last.last_seen}:{last.kind}:{last.id}") if last else None
        rows = [person_body(p, anons.get(p.id, []) if p.kind == "u" else []) for p in page]
        return PeoplePage(rows, cursor, as_of)

    return json_response(await svc.store.read_models(work))


def _people_query(params: Mapping[str, str], workspace_id: int) -> PeopleQuery:
    check_params(params, param_names(PeopleParams))
    cursor = decode_cursor(params.get("cursor"), _PEOPLE_CURSOR)
    kind = params.get("kind")
    if kind is not None and kind not in _KINDS:
        raise InvalidRequest("kind must be user or anonymous", field="kind")
    prefix = params.get("q") or None
    if prefix is not None and (len(prefix) > MAX_ID or "\x00" in prefix):
        raise InvalidRequest(f"q must be at most {MAX_ID} characters, without NUL", field="q")
    return PeopleQuery(
        workspace_id=workspace_id,
        limit=page_limit(params.get("limit"), PEOPLE_LIMIT, MAX_LIMIT),
        before=(int(cursor[1]), cursor[2], cursor[3]) if cursor else None,
        prefix=prefix,
        kind=_KINDS[PersonKind(kind)] if kind else None,
    )


def _user_id(request: Request) -> str:
    """The path's user id; one no user can have is unknown (404)."""
    user_id: str = request.path_params["user_id"]
    if not user_id or len(user_id) > MAX_ID or "\x00" in user_id:
        raise NotFound(f"No user {user_id[:MAX_ID]!r} in this workspace")
    return user_id


async def get_user(request: Request) -> Response:
    """A user's profile over their merged timeline, or 404."""
    note(request, route="users_get")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    user_id, ws = _user_id(request), key.workspace_id

    def work(q: ReadQueries, as_of: int) -> Profile | None:
        person = q.people(ws, [f"u:{user_id}"]).get(f"u:{user_id}")
        if person is None:
            return None
        anons = q.anons_of(ws, [user_id]).get(user_id, [])
        return profile_body(person, anons, q.conflicts_naming(ws, user_id, anons), as_of)

    found = await svc.store.read_models(work)
    if found is None:
        raise NotFound(f"No user {user_id} in this workspace")
    return json_response(found)


async def user_events(request: Request) -> Response:
    """The user's merged timeline by event timestamp, a page at a time."""
    note(request, route="users_events")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    user_id, ws = _user_id(request), key.workspace_id
    params = request.query_params
    check_params(params, param_names(TimelineParams))
    limit = page_limit(params.get("limit"), TIMELINE_LIMIT, MAX_LIMIT)
    order = _order(params.get("order"))
    cursor = decode_cursor(params.get("cursor"), _TIMELINE_CURSOR)
    after = (int(cursor[1]), int(cursor[2])) if cursor else None

    def work(q: ReadQueries, as_of: int) -> Timeline | None:
        if not q.people(ws, [f"u:{user_id}"]):
            return None
        anons = q.anons_of(ws, [user_id]).get(user_id, [])
        page, last = split_page(
            q.timeline(TimelineQuery(ws, user_id, anons, limit + 1, order, after)), limit
        )
        next_cursor = encode_cursor(f"t{last.timestamp_us}:{last.seq}") if last else None
        return Timeline([event_body(e) for e in page], next_cursor, as_of)

    found = await svc.store.read_models(work)
    if found is None:
        raise NotFound(f"No user {user_id} in this workspace")
    return json_response(found)


def _order(raw: str | None) -> Order:
    try:
        return Order(raw or "desc")
    except ValueError:
        raise InvalidRequest("order must be asc or desc", field="order") from None


async def identity(request: Request) -> Response:
    """Identity health: people, links, join rate, unattributed revenue, conflicts."""
    note(request, route="identity")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    check_params(request.query_params, param_names(NoParams))
    ws = key.workspace_id

    def work(q: ReadQueries, as_of: int) -> IdentityHealth:
        t = q.totals(ws)
        newest = [conflict_body(c) for c in q.newest_conflicts(ws, NEWEST_CONFLICTS)]
        return IdentityHealth(
            users=t.users,
            anonymous_ids_linked=t.linked,
            anonymous_ids_unlinked=t.unlinked,
            install_join_rate_7d=_rate(t.joined, t.installs),
            unattributed_revenue_share=_rate(t.unattributed, t.revenue_events),
            conflicts=Conflicts(t.conflicts, newest),
            as_of=as_of,
        )

    return json_response(await svc.store.read_models(work))


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None
