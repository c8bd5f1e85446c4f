"""``build_app``: the whole service assembled from its settings, store and clock (no globals)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
from collections.abc import AsyncIterator

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Route

from flokit.api.routes import ENDPOINTS
from flokit.drain import DrainUnreadBody
from flokit.errors import FloKitError
from flokit.gcpolicy import collect_cycles_rarely
from flokit.http import RequestMiddleware, handle_flokit_error, handle_http_exception
from flokit.imports.job import ImportJob, ImportPaths
from flokit.imports.leftovers import remove_ended
from flokit.imports.runner import ImportRunner
from flokit.metrics import Metrics
from flokit.model import ImportRecord
from flokit.openapi import build_document
from flokit.pipeline.ids import IdGenerator
from flokit.pipeline.ingest import Ingestor
from flokit.pipeline.validate import Validator
from flokit.projections.projector import Projector
from flokit.services import Clock, Services
from flokit.settings import Settings
from flokit.store import open_in_flight, open_limiter, open_store
from flokit.store.contract import InFlightMarkers, Limiter, Store

log = logging.getLogger("flokit")
PRUNE_INTERVAL_S = 600.0
DAY_US = 86_400 * 1_000_000


def build_app(
    settings: Settings,
    *,
    store: Store | None = None,
    limiter: Limiter | None = None,
    in_flight: InFlightMarkers | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The ASGI app. A store, limiter or markers passed in stay the caller's to close;
    otherwise the app opens them from the settings and closes them at shutdown."""
    owned_store, owned_limiter, owned_in_flight = store is None, limiter is None, in_flight is None
    store = store or open_store(settings)
    try:
        limiter = limiter or open_limiter(settings, store)
        in_flight = in_flight or open_in_flight(settings, store)
    except BaseException:  # Redis unreachable: the store just opened must not linger
        if owned_store:
            store.close()
        raise
    svc = _services(settings, store, limiter, in_flight, clock or time.time)
    projector = Projector(store, batch=settings.projector_batch) if settings.projector else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pruner = asyncio.create_task(_prune_forever(svc))
        svc.imports.start()
        if projector is not None:
            projector.start()
        try:
            yield
        finally:
            pruner.cancel()
            await asyncio.to_thread(svc.imports.stop)
            if projector is not None:
                await asyncio.to_thread(projector.stop)
            if owned_limiter:
                await svc.limiter.aclose()
            if owned_in_flight:
                await svc.in_flight.aclose()
            if owned_store:
                svc.store.close()

    app = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(DrainUnreadBody, bound=settings.max_drain_bytes),
            Middleware(RequestMiddleware, metrics=svc.metrics, log_requests=settings.log_requests),
        ],
        exception_handlers={FloKitError: handle_flokit_error, HTTPException: handle_http_exception},
        lifespan=lifespan,
    )
    app.state.services = svc
    app.state.openapi = msgspec.json.encode(build_document(ENDPOINTS, settings))
    return app


#: How long a thread may keep the GIL while another waits for it. The store's writer thread
#: needs the GIL only to bind a statement's parameters, between long stretches in SQLite
#: without it; at Python's default 5 ms it waited behind the request or import thread each
#: time. Import store phase of 1M rows, runs alternated: 2 ms 15.1/16.0 s, 0.5 ms
#: 14.6/13.6/13.4/15.0 s, 0.1 ms 12.5/13.0/12.4/11.7 s, 0.05 ms 13.0/14.2 s; ingest end to
#: end, 3 x 150 batches: 0.5 ms median 35.2k events/s, 0.1 ms 37.2k.
GIL_SWITCH_S = 0.0001


def create_app() -> Starlette:
    """Factory for ``uvicorn --factory`` worker processes: settings from ``FLOKIT_*``."""
    sys.setswitchinterval(GIL_SWITCH_S)
    app = build_app(Settings.from_env())
    collect_cycles_rarely()
    return app


def _services(
    settings: Settings,
    store: Store,
    limiter: Limiter,
    in_flight: InFlightMarkers,
    clock: Clock,
) -> Services:
    retention_us = settings.insert_id_retention_days * DAY_US
    ingestor = Ingestor(store, Validator(settings), IdGenerator(), retention_us)
    paths = ImportPaths(settings.import_files)
    paths.root.mkdir(parents=True, exist_ok=True)

    def run_job(record: ImportRecord, stop: threading.Event) -> None:
        job = ImportJob(record, store, settings, ingestor.ids, paths, clock, stop)
        job.run()

    runner = ImportRunner(
        store,
        run_job,
        clock,
        stale_s=settings.import_stale_seconds,
        tidy=lambda: remove_ended(paths, store),
    )
    return Services(settings, store, ingestor, Metrics(), clock, limiter, in_flight, runner, paths)


def _routes() -> list[Route]:
    """The route table's endpoints (api/routes.py), the ones the OpenAPI document shows."""
    return [endpoint.route() for endpoint in ENDPOINTS]


async def _prune_forever(svc: Services) -> None:
    """Forget expired insert_id keys and idempotency responses now and then, a slice at a
    time, so ingest never stalls."""
    while True:
        await asyncio.sleep(PRUNE_INTERVAL_S)
        try:
            while await svc.store.prune_expired(svc.now_us()) > 0:
                await asyncio.sleep(0.1)
        except FloKitError as exc:
            log.warning("pruning expired insert_id keys failed: %s", exc)
