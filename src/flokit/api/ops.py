"""Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response

from flokit.api.bodies import Ok, Ready
from flokit.errors import Unavailable
from flokit.http import json_response, note
from flokit.services import services

log = logging.getLogger("flokit")
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    note(request, route="healthz")
    return json_response(Ok("ok"))


async def readyz(request: Request) -> Response:
    """Readiness: the store answers and can take writes, and the limiter answers; if not,
    503 naming what is down."""
    note(request, route="readyz")
    svc = services(request)
    reasons = [
        r for r in (await svc.store.unready_reason(), await svc.limiter.unready_reason()) if r
    ]
    if reasons:
        raise Unavailable("Not ready: " + "; ".join(reasons))
    return json_response(Ready("ready", svc.store.backend))


async def metrics(request: Request) -> Response:
    """Prometheus text; the projection's lag is read at each scrape."""
    note(request, route="metrics")
    svc = services(request)
    try:
        progress = await asyncio.to_thread(svc.store.projection_progress, svc.now_us())
    except Exception as exc:  # the store is down: /readyz says so; the rest still counts
        log.warning("reading the projection's progress failed: %s", exc)
    else:
        svc.metrics.projection_position.set(progress.as_of)
        svc.metrics.projection_lag_events.set(progress.behind)
        svc.metrics.projection_lag_seconds.set(progress.lag_s)
    return Response(svc.metrics.exposition(), media_type=PROMETHEUS_TEXT)


async def openapi(request: Request) -> Response:
    """The OpenAPI document, generated once when the app was built (``flokit.openapi``)."""
    note(request, route="openapi")
    document: bytes = request.app.state.openapi
    return Response(document, media_type="application/json")
