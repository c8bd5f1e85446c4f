"""The route table: every endpoint the app serves, declared once. ``app.py`` serves
``ENDPOINTS`` and ``openapi.py`` generates the document from the same entries, so a new route
is one ``Endpoint`` here (or in a list of its own module, added to ``ENDPOINTS``), with the
structs of its query, request and response bodies."""

from __future__ import annotations

from flokit.api import (
    events,
    imports,
    ingest,
    ops,
    pages,
    routes_integrations,
    routes_reports,
    routes_spend,
    users,
)
from flokit.api.bodies import (
    BatchResponse,
    Event,
    EventInput,
    EventPage,
    EventResponse,
    Import,
    ImportPage,
    ImportUpload,
    Ok,
    Ready,
    batch_request,
)
from flokit.api.people import IdentityHealth, PeoplePage, Profile, Timeline
from flokit.api.table import JSON, Access, Endpoint, Header, Reply, json_reply
from flokit.errors import (
    BatchTooLarge,
    EventValidationError,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    InvalidJson,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unavailable,
    UnsupportedMediaType,
)
from flokit.settings import Settings

IDEMPOTENCY_KEY = Header(
    "Idempotency-Key",
    {"type": "string", "pattern": r'^[\x21-\x7e]{1,255}$|^"[\x21-\x7e]{1,255}"$'},
    "Makes retries safe: a repeat of the same request answers the kept response (contract §6)",
)
CONTENT_ENCODING = Header(
    "Content-Encoding", {"enum": ["gzip", "identity"]}, "gzip: the body is gzip-compressed"
)
FLOKIT_REJECTED = Header(
    "FloKit-Rejected",
    {"type": "string", "pattern": "^[1-9][0-9]*$"},
    "How many events were rejected (only when some were)",
)
IDEMPOTENT_REPLAYED = Header(
    "Idempotent-Replayed", {"enum": ["true"]}, "This is the kept response of an earlier request"
)
LOCATION = Header("Location", {"type": "string"}, "Where the import's progress is", required=True)

_INGEST_ERRORS = (
    InvalidJson,
    InvalidRequest,
    BatchTooLarge,
    InvalidIdempotencyKey,
    IdempotencyKeyInUse,
    PayloadTooLarge,
    UnsupportedMediaType,
    IdempotencyKeyReused,
    RateLimited,
)
_QUERY_ERRORS = (InvalidRequest,)


def _batch_body(settings: Settings) -> dict[str, type]:
    return {JSON: batch_request(settings.max_batch_events)}


def _event_body(settings: Settings) -> dict[str, type]:
    return {JSON: EventInput}


def _import_body(settings: Settings) -> dict[str, type]:
    return {**dict.fromkeys(imports.CSV_TYPES, bytes), "multipart/form-data": ImportUpload}


INGEST: list[Endpoint] = [
    Endpoint(
        "POST",
        "/v1/batch/events",
        ingest.batch_events,
        "Send 1 to 1,000 events: 200 with every event's outcome, even when some are rejected",
        Access.WRITE,
        {
            200: json_reply(
                BatchResponse, "Every event's outcome", FLOKIT_REJECTED, IDEMPOTENT_REPLAYED
            )
        },
        _INGEST_ERRORS,
        body=_batch_body,
        request_headers=(IDEMPOTENCY_KEY, CONTENT_ENCODING),
        rate_limited=True,
    ),
    Endpoint(
        "POST",
        "/v1/events",
        ingest.single_event,
        "Send one event",
        Access.WRITE,
        {200: json_reply(EventResponse, "Stored, or a duplicate of", IDEMPOTENT_REPLAYED)},
        (*_INGEST_ERRORS, EventValidationError),
        body=_event_body,
        request_headers=(IDEMPOTENCY_KEY, CONTENT_ENCODING),
        rate_limited=True,
    ),
]

EVENTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/v1/events",
        events.list_events,
        "The workspace's events, most recently received first",
        Access.READ,
        {200: json_reply(EventPage, "One page")},
        _QUERY_ERRORS,
        params=events.EventsParams,
    ),
    Endpoint(
        "GET",
        "/v1/events/{event_id}",
        events.get_event,
        "One event of the workspace",
        Access.READ,
        {200: json_reply(Event, "The event")},
        (NotFound,),
    ),
]

IMPORTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/v1/imports",
        imports.create_import,
        "Upload a CSV file of historical events (contract §10)",
        Access.WRITE,
        {
            202: json_reply(Import, "Queued; Location names the import", LOCATION),
            200: json_reply(Import, "The identical file was imported already; nothing stored"),
        },
        (InvalidRequest, PayloadTooLarge, UnsupportedMediaType),
        params=imports.CreateParams,
        body=_import_body,
    ),
    Endpoint(
        "GET",
        "/v1/imports",
        imports.list_imports,
        "The workspace's imports, newest first",
        Access.READ,
        {200: json_reply(ImportPage, "One page")},
        _QUERY_ERRORS,
        params=imports.ListParams,
    ),
    Endpoint(
        "GET",
        "/v1/imports/{import_id}",
        imports.get_import,
        "One import and its progress",
        Access.READ,
        {200: json_reply(Import, "The import")},
        (NotFound,),
    ),
    Endpoint(
        "GET",
        "/v1/imports/{import_id}/errors.csv",
        imports.import_errors,
        "Every rejected row as it was in the file, plus its row number and reason",
        Access.READ,
        {200: Reply("The rejected rows", {"text/csv": str})},
        (NotFound,),
    ),
]

PEOPLE: list[Endpoint] = [
    Endpoint(
        "GET",
        "/v1/users",
        users.list_users,
        "People (users and anonymous visitors), most recently active first",
        Access.READ,
        {200: json_reply(PeoplePage, "One page")},
        _QUERY_ERRORS,
        params=users.PeopleParams,
    ),
    # Before /v1/users/{user_id:path}, which would take ".../events" as part of the id.
    Endpoint(
        "GET",
        "/v1/users/{user_id:path}/events",
        users.user_events,
        "The user's merged timeline (anonymous events included) by event time",
        Access.READ,
        {200: json_reply(Timeline, "One page")},
        (*_QUERY_ERRORS, NotFound),
        params=users.TimelineParams,
    ),
    Endpoint(
        "GET",
        "/v1/users/{user_id:path}",
        users.get_user,
        "A user's profile over their merged timeline",
        Access.READ,
        {200: json_reply(Profile, "The profile")},
        (NotFound,),
    ),
    Endpoint(
        "GET",
        "/v1/identity",
        users.identity,
        "Identity health: links, install join rate, unattributed revenue, conflicts",
        Access.READ,
        {200: json_reply(IdentityHealth, "The figures")},
        _QUERY_ERRORS,
        params=users.NoParams,
    ),
]

OPS: list[Endpoint] = [
    Endpoint(
        "GET", "/healthz", ops.healthz, "Liveness", Access.PUBLIC, {200: json_reply(Ok, "Up")}
    ),
    Endpoint(
        "GET",
        "/readyz",
        ops.readyz,
        "Readiness: the store takes writes and the limiter answers (a 503 names what does not)",
        Access.PUBLIC,
        {200: json_reply(Ready, "Ready")},
        (Unavailable,),
    ),
    Endpoint(
        "GET",
        "/metrics",
        ops.metrics,
        "Prometheus text: requests, events by outcome, batch latency, projection lag",
        Access.PUBLIC,
        {200: Reply("The metrics", {"text/plain": str})},
    ),
    Endpoint(
        "GET",
        "/openapi.json",
        ops.openapi,
        "This document",
        Access.PUBLIC,
        {200: json_reply(dict, "The OpenAPI 3.1 document")},
    ),
]

#: Every endpoint the app serves, in matching order.
ENDPOINTS: list[Endpoint] = [
    *INGEST,
    *EVENTS,
    *IMPORTS,
    *routes_integrations.endpoints(),
    *PEOPLE,
    *routes_spend.ENDPOINTS,
    *routes_reports.ENDPOINTS,
    *pages.ENDPOINTS,
    *OPS,
]
