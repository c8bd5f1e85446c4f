"""``POST /v1/batch/events`` and ``POST /v1/events`` (batch-events.md, contract §1 to §7).

Stages: authenticate → read (media type, size) → idempotency lookup (a replay leaves here) →
decode → rate limit → validate → ids, duplicates and store → respond.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from flokit.api.bodies import BatchResponse, EventResponse
from flokit.errors import EventValidationError, FloKitError, RateLimited
from flokit.http import note
from flokit.model import (
    ApiKey,
    IdempotencyClaim,
    Rejection,
    Rendered,
    StoredResponse,
    ValidEvent,
)
from flokit.pipeline.auth import authenticate, require_write
from flokit.pipeline.decode import decode_batch, decode_object
from flokit.pipeline.idempotency import check_replay, fingerprint, hold, parse_key
from flokit.pipeline.ingest import Outcome
from flokit.pipeline.limits import Decision
from flokit.pipeline.receive import check_media_type, read_body
from flokit.services import Services, services

_encode = msgspec.json.encode
HOUR_US = 3600 * 1_000_000


async def batch_events(request: Request) -> Response:
    """Up to 1,000 events: 200 with one outcome per event, even when some are rejected."""
    note(request, route="batch")
    return await _guarded(request, _batch)


async def single_event(request: Request) -> Response:
    """One event: 200 with its id (a duplicate answers its original's id), or 400."""
    note(request, route="event")
    return await _guarded(request, _single)


class _Quota:
    """The workspace's rate-limit decision for this request, spent at most once."""

    def __init__(self, svc: Services, key: ApiKey) -> None:
        self.svc, self.key = svc, key
        self.limit = key.requests_per_minute or svc.settings.default_requests_per_minute
        self.decision: Decision | None = None

    async def spend(self) -> None:
        self.decision = await self.svc.limiter.acquire(
            self.key.workspace_id, self.limit, self.svc.clock()
        )
        if not self.decision.allowed:
            raise RateLimited(
                f"Workspace over its limit of {self.limit} ingest requests per minute; "
                f"retry in {self.decision.wait_s} s"
            )

    async def headers(self) -> dict[str, str]:
        """The RateLimit headers: of the decision if one was made, else of a free peek."""
        decision = self.decision or await self.svc.limiter.peek(
            self.key.workspace_id, self.limit, self.svc.clock()
        )
        return decision.headers()


async def _limit_headers(quota: _Quota) -> dict[str, str]:
    """The RateLimit headers of an error answer; none when the limiter itself is down."""
    try:
        return await quota.headers()
    except FloKitError:
        return {}


Handler = Callable[[Request, Services, ApiKey, _Quota], Awaitable[Response]]


async def _guarded(request: Request, handler: Handler) -> Response:
    """Authenticate, then run ``handler``; every answer after that carries RateLimit headers."""
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    require_write(key)
    note(request, workspace=key.workspace_public_id)
    quota = _Quota(svc, key)
    try:
        response = await handler(request, svc, key, quota)
    except FloKitError as exc:
        exc.headers = {**(await _limit_headers(quota)), **exc.headers}
        raise
    response.headers.update(await quota.headers())
    return response


async def _read(
    request: Request, svc: Services, key: ApiKey
) -> tuple[bytes, IdempotencyClaim | None, StoredResponse | None, int]:
    """The body, its Idempotency-Key claim, and the response already kept for that key."""
    idempotency_key = parse_key(request.headers)
    gzipped = check_media_type(request.headers)
    body = await read_body(request.headers, request.stream(), svc.settings.max_body_bytes, gzipped)
    received_us = svc.now_us()
    if idempotency_key is None:
        return body, None, None, received_us
    retention_us = svc.settings.idempotency_retention_hours * HOUR_US
    claim = IdempotencyClaim(
        idempotency_key, fingerprint(request.url.path, body), received_us + retention_us
    )
    kept = await svc.store.find_response(key.workspace_id, idempotency_key, received_us)
    return body, claim, kept and check_replay(kept, claim), received_us


async def _batch(request: Request, svc: Services, key: ApiKey, quota: _Quota) -> Response:
    body, claim, kept, received_us = await _read(request, svc, key)
    if kept is not None:
        return _replayed(kept)
    async with hold(svc.in_flight, key.workspace_id, claim):
        raws = decode_batch(body, svc.settings.max_batch_events)
        await quota.spend()
        valid, rejections = svc.ingestor.validate(raws, received_us)
        return await _commit(request, svc, key, valid, rejections, received_us, claim, _batch_body)


async def _single(request: Request, svc: Services, key: ApiKey, quota: _Quota) -> Response:
    body, claim, kept, received_us = await _read(request, svc, key)
    if kept is not None:
        return _replayed(kept)
    async with hold(svc.in_flight, key.workspace_id, claim):
        decode_object(body)  # malformed JSON and non-objects get their request-level errors
        valid, rejections = svc.ingestor.validate([body], received_us)
        if rejections:  # answered before spending quota, and never kept for replays
            svc.metrics.count_events(0, 0, rejections)
            raise EventValidationError(rejections[0].reason, field=rejections[0].field)
        await quota.spend()
        return await _commit(request, svc, key, valid, [], received_us, claim, _single_body)


async def _commit(
    request: Request,
    svc: Services,
    key: ApiKey,
    valid: list[ValidEvent],
    rejections: list[Rejection],
    received_us: int,
    claim: IdempotencyClaim | None,
    respond: Callable[[Outcome], Rendered],
) -> Response:
    outcome, result = await svc.ingestor.commit(
        key.workspace_id, valid, rejections, received_us, respond, claim
    )
    if isinstance(result, StoredResponse):  # another process answered this key meanwhile
        assert claim is not None  # only a claimed key can have been answered meanwhile
        return _replayed(check_replay(result, claim))
    assert outcome is not None
    accepted = len(outcome.event_ids)
    svc.metrics.count_events(accepted, outcome.duplicates, outcome.rejections)
    note(
        request, accepted=accepted, rejected=len(outcome.rejections), duplicates=outcome.duplicates
    )
    return Response(result.body, 200, result.headers, media_type="application/json")


def _batch_body(outcome: Outcome) -> Rendered:
    rejected = len(outcome.rejections)
    body = BatchResponse(
        "ok",
        len(outcome.event_ids),
        rejected,
        outcome.duplicates,
        outcome.event_ids,
        outcome.rejections,
    )
    return Rendered(_encode(body), {"FloKit-Rejected": str(rejected)} if rejected else {})


def _single_body(outcome: Outcome) -> Rendered:
    return Rendered(_encode(EventResponse("ok", outcome.event_ids[0])), {})


def _replayed(kept: StoredResponse) -> Response:
    """The kept response, byte for byte; no events stored, no quota spent."""
    headers = {**kept.headers, "Idempotent-Replayed": "true"}
    return Response(kept.body, kept.status, headers, media_type="application/json")
