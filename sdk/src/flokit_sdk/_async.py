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
    """``Client`` for asyncio programs: ``await send_batch(...)``, ``await track(...)``; the
    same constructor options and methods (tests/test_sdk_surface.py holds them equal).

    Close it (``async with`` or ``await close()``); events still queued when the interpreter
    exits without that are sent then, in a loop of their own, with the client's own settings
    (compression, limits, transport, retries), so none is lost silently.
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
        senders: int = 2,
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
        self.base_url, self.timeout, self._transport = base_url, timeout, transport
        self._sleep = sleep
        self._http = self._connect()
        self._changed: asyncio.Condition | None = None
        self._senders = max(1, senders)
        self._workers: list[asyncio.Task[None]] = []
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

    async def flush(self, timeout: float | None = None) -> bool:
        """As ``Client.flush``: send everything queued now; True once the queue is empty and
        nothing is in flight, False if ``timeout`` seconds passed first."""
        changed = self._condition()
        async with changed:
            self._flushing = True
            changed.notify_all()
            try:
                async with asyncio.timeout(timeout):
                    await changed.wait_for(self._drained_or_stopped)
            except TimeoutError:
                pass
            finally:
                self._flushing = False
            return not self._backlog.events and not self._in_flight

    async def close(self) -> None:
        """Flush, stop the background sender and release the connection (idempotent)."""
        if self._closed:
            return
        await self.flush()
        changed = self._condition()
        async with changed:
            self._closed = True
            changed.notify_all()
        for worker in self._workers:
            await worker
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # created inside the running loop
            self._changed = asyncio.Condition()
        return self._changed

    def _connect(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, transport=self._transport
        )

    def _drained_or_stopped(self) -> bool:
        drained = not self._backlog.events and not self._in_flight
        return drained or not any(not worker.done() for worker in self._workers)

    def _start_worker(self) -> None:
        """Start the senders (two by default, as ``Client``), each a task of the running loop."""
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._run()) for _ in range(self._senders)]

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
        """At interpreter exit without ``close()``: send what is still queued, in a new event
        loop (the program's has ended) through this client's own code, so compression, size
        limits, retries and the caller's transport all still apply."""
        if self._closed or not self._backlog.events:
            return
        leftovers = self._backlog.take(len(self._backlog.events))
        self._closed = True
        asyncio.run(self._deliver_at_exit(leftovers))

    async def _deliver_at_exit(self, leftovers: list[dict[str, Any]]) -> None:
        # The program's connections belong to its ended loop: a client of this loop's own, over
        # the same transport.
        self._http = self._connect()
        try:
            await self._send_in_background(leftovers)
        finally:
            await self._http.aclose()


def _leftovers_at_exit(ref: weakref.ref[AsyncClient]) -> None:
    client = ref()
    if client is not None:
        client._send_leftovers()
