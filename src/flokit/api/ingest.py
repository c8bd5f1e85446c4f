"""``POST /v1/batch/events`` and ``POST /v1/events`` (batch-events.md, contract §1 to §5)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from flokit.errors import EventValidationError
from flokit.http import json_response, note
from flokit.model import ApiKey
from flokit.pipeline.auth import authenticate, require_write
from flokit.pipeline.decode import decode_batch, decode_object
from flokit.pipeline.ingest import Outcome
from flokit.pipeline.receive import check_media_type, read_body
from flokit.services import Services, services


async def _receive(request: Request, svc: Services) -> tuple[ApiKey, bytes]:
    """Authenticate, check the media type, then read the body under its caps."""
    key = authenticate(request.headers, svc.store)
    require_write(key)
    note(request, workspace=key.workspace_public_id)
    gzipped = check_media_type(request.headers)
    body = await read_body(request.headers, request.stream(), svc.settings.max_body_bytes, gzipped)
    return key, body


async def batch_events(request: Request) -> Response:
    """Up to 1,000 events: 200 with one outcome per event, even when some are rejected."""
    note(request, route="batch")
    svc = services(request)
    key, body = await _receive(request, svc)
    raws = decode_batch(body, svc.settings.max_batch_events)
    outcome = await svc.ingestor.ingest(key.workspace_id, raws, svc.now_us())
    return _batch_response(request, svc, outcome)


def _batch_response(request: Request, svc: Services, outcome: Outcome) -> Response:
    accepted, rejected = len(outcome.event_ids), len(outcome.rejections)
    svc.metrics.count_events(accepted, outcome.duplicates, outcome.rejections)
    note(request, accepted=accepted, rejected=rejected, duplicates=outcome.duplicates)
    body = {
        "status": "ok",
        "accepted": accepted,
        "rejected": rejected,
        "duplicates": outcome.duplicates,
        "event_ids": outcome.event_ids,
        "errors": outcome.rejections,
    }
    headers = {"FloKit-Rejected": str(rejected)} if rejected else None
    return json_response(body, headers=headers)


async def single_event(request: Request) -> Response:
    """One event: 200 with its id (a duplicate answers its original's id), or 400."""
    note(request, route="event")
    svc = services(request)
    key, body = await _receive(request, svc)
    decode_object(body)  # malformed JSON and non-objects get their request-level errors
    outcome = await svc.ingestor.ingest(key.workspace_id, [body], svc.now_us())
    svc.metrics.count_events(len(outcome.event_ids), outcome.duplicates, outcome.rejections)
    if outcome.rejections:
        rejection = outcome.rejections[0]
        raise EventValidationError(rejection.reason, field=rejection.field)
    note(request, accepted=1, duplicates=outcome.duplicates)
    return json_response({"status": "ok", "event_id": outcome.event_ids[0]})
