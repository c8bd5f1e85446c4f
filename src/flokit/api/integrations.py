"""The provider receivers (integrations.md): authenticate → read → map → validate → store.

One generic receiver serves every provider of the registry. A delivery that authenticates and
parses is answered 200 with what happened to it, since providers retry anything else; it never
spends the workspace's ingest quota (providers do not honour one). Its events go through the
Events API's validation, duplicate detection and durable commit; its counters and its mapper's
memory are committed in the same transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from flokit.errors import InvalidJson, InvalidRequest, Unauthorized
from flokit.http import note
from flokit.integrations.outcome import CanonicalEvent, Dropped, DropReason, Mapped
from flokit.integrations.records import DeliveryError, DeliveryRecord, Integration
from flokit.integrations.registry import (
    Delivery,
    Locate,
    MapContext,
    NotProviderShape,
    Provider,
    hash_secret,
)
from flokit.model import Rendered
from flokit.pipeline.decode import decode_object
from flokit.pipeline.ingest import Outcome
from flokit.pipeline.receive import read_body
from flokit.services import Services, services
from flokit.store.contract import IntegrationStore

Endpoint = Callable[[Request], Awaitable[Response]]
_encode = msgspec.json.encode
_decode = msgspec.json.Decoder()
#: Drops that say a delivery was malformed: kept among the integration's last errors.
ERROR_REASONS = frozenset({DropReason.MISSING_FIELD, DropReason.BAD_TIMESTAMP, DropReason.INVALID})
MAX_CREDENTIAL = 512


def receiver(provider: Provider) -> Endpoint:
    """The route handler of ``provider``'s deliveries."""

    async def receive(request: Request) -> Response:
        note(request, route=f"integration_{provider.type.value}")
        svc = services(request)
        limit = svc.settings.integration_max_body_bytes
        body = await read_body(request.headers, request.stream(), limit, gzipped=False)
        delivery = Delivery(request.headers, request.query_params, body)
        now_s = svc.clock()
        integration = await _authenticate(svc, provider, delivery, request, now_s)
        note(request, workspace=integration.workspace_public_id, integration=integration.id)
        try:
            mapped = await _map(svc, provider, integration, delivery, now_s)
        except (InvalidJson, InvalidRequest) as exc:
            error = DeliveryError(int(now_s * 1_000_000), exc.status, exc.message)
            await svc.store.record_delivery_error(integration.id, error)
            raise
        return await _ingest(request, svc, integration, mapped)

    return receive


async def _authenticate(
    svc: Services, provider: Provider, delivery: Delivery, request: Request, now_s: float
) -> Integration:
    """The integration the delivery belongs to, or 401 (nothing stored, nothing counted)."""
    integration: Integration | None
    if provider.locate is Locate.BY_PATH_ID:
        integration = await svc.store.get_integration(request.path_params["integration_id"])
        if integration is not None and integration.type is not provider.type:
            integration = None
    else:
        assert provider.credential is not None
        presented = provider.credential(delivery)
        if presented is None or len(presented) > MAX_CREDENTIAL:
            raise Unauthorized(f"Missing or invalid {provider.type.value} integration secret")
        integration = await svc.store.find_integration(provider.type, hash_secret(presented))
    if integration is None or not provider.authenticate(delivery, integration.secret, now_s):
        raise Unauthorized(f"The {provider.type.value} delivery failed authentication")
    return integration


async def _map(
    svc: Services, provider: Provider, integration: Integration, delivery: Delivery, now_s: float
) -> tuple[list[Mapped], dict[str, str]]:
    """The delivery's canonical events and drops, and what the mapper asked to remember."""
    memory = StoreMemory(svc.store, integration.id, asyncio.get_running_loop())
    ctx = MapContext(integration.keep_sandbox, memory, now_s, integration.settings)
    try:
        payload = provider.payload(delivery) if provider.payload else _json(delivery.body)
        if provider.uses_memory:  # Memory.get waits for the store: not on the event loop
            mapped = await asyncio.to_thread(provider.map, payload, ctx)
        else:
            mapped = provider.map(payload, ctx)
    except NotProviderShape as exc:
        raise InvalidRequest(str(exc)) from None
    return mapped, memory.written


def _json(body: bytes) -> object:
    """The body as JSON; malformed JSON gets the Events API's message (line, column)."""
    try:
        return _decode.decode(body)
    except (msgspec.DecodeError, RecursionError):
        with contextlib.suppress(InvalidRequest):  # not an object: the message below
            decode_object(body)  # raises the message for what is wrong, if it finds it
        raise InvalidJson("The body is not valid JSON: it is nested too deeply") from None


async def _ingest(
    request: Request,
    svc: Services,
    integration: Integration,
    result: tuple[list[Mapped], dict[str, str]],
) -> Response:
    mapped, remembered = result
    events = [m for m in mapped if type(m) is CanonicalEvent]
    drops = [m for m in mapped if type(m) is Dropped]
    received_us = svc.now_us()
    valid, rejections = svc.ingestor.validate([e.encode() for e in events], received_us)
    for rejection in rejections:
        event = events[rejection.index]
        detail = f"{event.event} {event.insert_id}: {rejection.reason}"
        drops.append(Dropped(DropReason.INVALID, detail))
    dropped: dict[str, int] = {}
    for drop in drops:
        dropped[drop.reason.value] = dropped.get(drop.reason.value, 0) + 1
    record = DeliveryRecord(
        integration.id,
        received_us,
        dropped,
        [d.detail for d in drops if d.reason in ERROR_REASONS],
        remembered,
    )

    def respond(outcome: Outcome) -> Rendered:
        body = {
            "status": "ok",
            "accepted": len(outcome.event_ids),
            "duplicates": outcome.duplicates,
            "dropped": len(drops),
            "event_ids": outcome.event_ids,
            "reasons": [{"reason": d.reason.value, "detail": d.detail} for d in drops],
        }
        return Rendered(_encode(body), {})

    outcome, rendered = await svc.ingestor.commit(
        integration.workspace_id, valid, [], received_us, respond, None, record
    )
    assert outcome is not None and isinstance(rendered, Rendered)  # no claim: no replay
    svc.metrics.count_events(len(outcome.event_ids), outcome.duplicates, rejections)
    svc.metrics.count_drops(integration.type.value, dropped)
    note(request, accepted=len(outcome.event_ids), dropped=len(drops))
    return Response(rendered.body, 200, media_type="application/json")


class StoreMemory:
    """``Memory`` for a mapper run in a worker thread: reads ask the store (on the event loop),
    writes wait in ``written`` and are committed with the delivery's events."""

    def __init__(
        self, store: IntegrationStore, integration_id: str, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.store, self.integration_id, self.loop = store, integration_id, loop
        self.written: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        if key in self.written:
            return self.written[key]
        if self._on_loop():
            raise RuntimeError("Memory.get on the event loop: set Provider.uses_memory")
        recall = self.store.recall(self.integration_id, key)
        return asyncio.run_coroutine_threadsafe(recall, self.loop).result()

    def put(self, key: str, value: str) -> None:
        self.written[key] = value

    def _on_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False
