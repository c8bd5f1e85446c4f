"""``AsyncClient``: the asyncio client, with the surface of ``Client`` in ``async`` form."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx

from flokit_sdk._core import (
    BATCH_PATH,
    MIB,
    Chunk,
    DeliveryReport,
    RetryPolicy,
    chunks,
    jitter,
    make_event,
    read_response,
    retry_after,
)
from flokit_sdk._queue import Backlog, OnDrop, Overflow
from flokit_sdk.errors import FloKitError, RetriesExhaustedError
from flokit_sdk.results import BatchResult

log = logging.getLogger("flokit_sdk")
OnError = Callable[[DeliveryReport], None]


class AsyncClient:
    """``Client`` for asyncio programs: ``await send_batch(...)``, ``await track(...)``.

    Close it (``async with`` or ``await close()``); events still queued when the interpreter
    exits without that are sent then by a blocking fallback, so none is lost silently.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str = "http://127.0.0.1:8080",
        *,
        timeout: float = 30.0,
        compress: bool = True,
        max_batch_events: int = 1000,
        max_body_bytes: int = 10 * MIB - 64 * 1024,
        flush_interval: float = 5.0,
        max_queue_size: int = 100_000,
        overflow: Overflow = "block",
        on_error: OnError | None = None,
        on_drop: OnDrop | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api_key, self.base_url, self.compress = api_key, base_url, compress
        self.max_batch_events, self.max_body_bytes = max_batch_events, max_body_bytes
        self.flush_interval, self.on_error, self.timeout = flush_interval, on_error, timeout
        self.retry = retry or RetryPolicy()
        self._sleep, self._clock = sleep, clock
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._backlog = Backlog(max_queue_size, overflow, on_drop)
        self._changed: asyncio.Condition | None = None
        self._in_flight = 0
        self._flushing = self._closed = False
        self._worker: asyncio.Task[None] | None = None
        atexit.register(_leftovers_at_exit, weakref.ref(self))

    async def send_batch(self, events: list[dict[str, Any]]) -> BatchResult:
        """As ``Client.send_batch``."""
        result = BatchResult()
        for chunk in chunks(events, self.max_batch_events, self.max_body_bytes, self.compress):
            result.add(await self._deliver(chunk), chunk.events, chunk.offset)
        return result

    async def _deliver(self, chunk: Chunk) -> dict[str, Any]:
        started, attempt = self._clock(), 0
        while True:
            attempt += 1
            wait, last = await self._attempt(chunk)
            if isinstance(last, dict):
                return last
            elapsed = self._clock() - started
            delay = self.retry.delay(attempt, wait, jitter)
            if not self.retry.allows(attempt, elapsed, delay):
                message = f"gave up after {attempt} attempts in {elapsed:.1f} s: {last}"
                raise RetriesExhaustedError(message, chunk.events, last)
            await self._sleep(delay)

    async def _attempt(self, chunk: Chunk) -> tuple[float | None, dict[str, Any] | str]:
        try:
            response = await self._http.post(
                BATCH_PATH, content=chunk.body, headers=chunk.headers(self.api_key)
            )
        except httpx.TransportError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        body = read_response(response.status_code, response.content)
        if body is not None:
            return None, body
        return retry_after(response.headers), f"HTTP {response.status_code}"

    async def track(
        self,
        event: str,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        timestamp: datetime | str | None = None,
        properties: dict[str, Any] | None = None,
        insert_id: str | None = None,
    ) -> str:
        """As ``Client.track``; waits (does not block the loop) while the queue is full."""
        doc = make_event(
            event,
            user_id=user_id,
            anonymous_id=anonymous_id,
            timestamp=timestamp,
            properties=properties,
            insert_id=insert_id,
        )
        changed = self._condition()
        async with changed:
            if self._closed:
                raise FloKitError("the client is closed")
            self._start_worker()
            while self._backlog.full() and self._backlog.overflow == "block":
                await changed.wait()
            if self._backlog.full():
                self._backlog.drop(doc)
            else:
                self._backlog.events.append(doc)
                if len(self._backlog.events) >= self.max_batch_events:
                    changed.notify_all()
        return str(doc["insert_id"])

    @property
    def dropped(self) -> int:
        return self._backlog.dropped

    async def flush(self) -> None:
        """Send everything queued now and wait until nothing is left or in flight."""
        changed = self._condition()
        async with changed:
            self._flushing = True
            changed.notify_all()
            while (self._backlog.events or self._in_flight) and self._worker_alive():
                await changed.wait()
            self._flushing = False

    async def close(self) -> None:
        """Flush, stop the background sender and release the connection (idempotent)."""
        if self._closed:
            return
        await self.flush()
        changed = self._condition()
        async with changed:
            self._closed = True
            changed.notify_all()
        if self._worker is not None:
            await self._worker
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # created inside the running loop
            self._changed = asyncio.Condition()
        return self._changed

    def _worker_alive(self) -> bool:
        return self._worker is not None and not self._worker.done()

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        changed = self._condition()
        while True:
            async with changed:
                with contextlib.suppress(TimeoutError):  # the flush interval passed
                    await asyncio.wait_for(changed.wait_for(self._ready), self.flush_interval)
                if self._closed and not self._backlog.events:
                    return
                batch = self._backlog.take(self.max_batch_events)
                self._in_flight += len(batch)
                changed.notify_all()
            if batch:
                await self._send_in_background(batch)
            async with changed:
                self._in_flight -= len(batch)
                changed.notify_all()

    def _ready(self) -> bool:
        queued = len(self._backlog.events)
        return queued >= self.max_batch_events or self._closed or (self._flushing and queued > 0)

    async def _send_in_background(self, batch: list[dict[str, Any]]) -> None:
        try:
            result = await self.send_batch(batch)
        except FloKitError as exc:
            log.error("FloKit: %d events not delivered: %s", len(batch), exc)
            self._report(DeliveryReport(batch, None, exc))
            return
        if result.rejected:
            log.warning(
                "FloKit: %d of %d events rejected, first: %s",
                result.rejected,
                len(batch),
                result.errors[0].reason,
            )
            self._report(DeliveryReport(batch, result, None))

    def _report(self, report: DeliveryReport) -> None:
        if self.on_error is not None:
            try:
                self.on_error(report)
            except Exception:
                log.exception("FloKit: the on_error callback failed")

    def _send_leftovers(self) -> None:
        """At interpreter exit without ``close()``: send what is still queued, blocking."""
        if self._closed or not self._backlog.events:
            return
        from flokit_sdk._sync import Client

        leftovers = list(self._backlog.events)
        self._backlog.events.clear()
        with Client(
            self.api_key,
            self.base_url,
            timeout=self.timeout,
            retry=self.retry,
            on_error=self.on_error,
        ) as fallback:
            fallback._send_in_background(leftovers)


def _leftovers_at_exit(ref: weakref.ref[AsyncClient]) -> None:
    client = ref()
    if client is not None:
        client._send_leftovers()
