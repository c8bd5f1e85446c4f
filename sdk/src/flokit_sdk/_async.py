"""``AsyncClient``: the asyncio client, with the surface of ``Client`` in ``async`` form."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx

from flokit_sdk._base import ClientBase, OnError
from flokit_sdk._core import (
    BATCH_PATH,
    MIB,
    Chunk,
    RetryPolicy,
    make_event,
    read_response,
    retry_after,
)
from flokit_sdk._queue import OnDrop, Overflow
from flokit_sdk.errors import FloKitError
from flokit_sdk.results import BatchResult


class AsyncClient(ClientBase):
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
        self._configure(
            api_key,
            compress=compress,
            max_batch_events=max_batch_events,
            max_body_bytes=max_body_bytes,
            flush_interval=flush_interval,
            max_queue_size=max_queue_size,
            overflow=overflow,
            on_error=on_error,
            on_drop=on_drop,
            retry=retry,
            clock=clock,
        )
        self.base_url, self.timeout = base_url, timeout
        self._sleep = sleep
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._changed: asyncio.Condition | None = None
        self._worker: asyncio.Task[None] | None = None
        atexit.register(_leftovers_at_exit, weakref.ref(self))

    async def send_batch(self, events: list[dict[str, Any]]) -> BatchResult:
        """As ``Client.send_batch``."""
        result = BatchResult()
        for chunk in self._chunks(events):
            result.add(await self._deliver(chunk), chunk.events, chunk.offset)
        return result

    async def _deliver(self, chunk: Chunk) -> dict[str, Any]:
        started, attempt = self._clock(), 0
        while True:
            attempt += 1
            wait, last = await self._attempt(chunk)
            if isinstance(last, dict):
                return last
            delay = self._backoff(chunk, attempt, started, wait, last)
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
            while self._must_wait():
                await changed.wait()
            if self._enqueue(doc):
                changed.notify_all()
        return str(doc["insert_id"])

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

    async def _send_in_background(self, batch: list[dict[str, Any]]) -> None:
        """Deliver; rejections and failures are logged and reported, never swallowed."""
        try:
            result = await self.send_batch(batch)
        except FloKitError as exc:
            self._outcome(batch, None, exc)
        else:
            self._outcome(batch, result, None)

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
