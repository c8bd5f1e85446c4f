"""``Client``: the thread-based client."""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable
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


class Client(ClientBase):
    """Sends events to a FloKit server: ``send_batch`` now, or ``track`` for background sending.

    Every event gets an ``insert_id`` and every request an ``Idempotency-Key`` before the first
    attempt, kept across retries, so a retry can never store an event twice.
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
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
        self._sleep = sleep
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self._lock = threading.Condition(threading.Lock())
        self._senders = max(1, senders)
        self._workers: list[threading.Thread] = []
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- sending now ---------------------------------------------------------------------------

    def send_batch(self, events: list[dict[str, Any]]) -> BatchResult:
        """Send ``events`` now (any number: split into requests of <= 1,000 events and <= the
        body limit), retrying what may succeed later. Raises ``APIError`` for what cannot
        (``AuthenticationError``, ``PermissionDeniedError``...) and ``RetriesExhaustedError``
        when the retry budget runs out; rejected events are in the result's ``errors``."""
        result = BatchResult()
        for chunk in self._chunks(events):
            result.add(self._deliver(chunk), chunk.events, chunk.offset)
        return result

    def _deliver(self, chunk: Chunk) -> dict[str, Any]:
        started, attempt = self._clock(), 0
        while True:
            attempt += 1
            wait, last = self._attempt(chunk)
            if isinstance(last, dict):
                return last
            delay = self._backoff(chunk, attempt, started, wait, last)
            self._sleep(delay)

    def _attempt(self, chunk: Chunk) -> tuple[float | None, dict[str, Any] | str]:
        """One try: the body on success, else (Retry-After, why) for a retryable failure."""
        try:
            response = self._http.post(
                BATCH_PATH, content=chunk.body, headers=chunk.headers(self.api_key)
            )
        except httpx.TransportError as exc:  # connection refused, reset, timeout...
            return None, f"{type(exc).__name__}: {exc}"
        body = read_response(response.status_code, response.content)
        if body is not None:
            return None, body
        return retry_after(response.headers), f"HTTP {response.status_code}"

    # -- sending in the background -----------------------------------------------------------

    def track(
        self,
        event: str,
        *,
        user_id: str | None = None,
        anonymous_id: str | None = None,
        timestamp: datetime | str | None = None,
        properties: dict[str, Any] | None = None,
        insert_id: str | None = None,
    ) -> str:
        """Queue one event for the background sender; its insert_id. Blocks while the queue is
        full (``overflow="block"``), or drops and reports it (``overflow="drop"``)."""
        doc = make_event(
            event,
            user_id=user_id,
            anonymous_id=anonymous_id,
            timestamp=timestamp,
            properties=properties,
            insert_id=insert_id,
        )
        with self._lock:
            if self._closed:
                raise FloKitError("the client is closed")
            self._start_worker()
            while self._must_wait():
                self._lock.wait()
            if self._enqueue(doc):
                self._lock.notify_all()
        return str(doc["insert_id"])

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once the queue is empty and nothing is in flight."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushing = True
            self._lock.notify_all()
            while self._backlog.events or self._in_flight:
                if not any(worker.is_alive() for worker in self._workers):
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._lock.wait(remaining)
            self._flushing = False
            return not self._backlog.events and not self._in_flight

    def close(self) -> None:
        """Flush, stop the background sender and release the connection (idempotent)."""
        if self._closed:
            return
        self.flush()
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        for worker in self._workers:
            worker.join()
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start_worker(self) -> None:
        """Start the senders: two requests in flight by default, so one chunk is prepared
        while the server works on the other (each has its own Idempotency-Key)."""
        if not self._workers:
            self._workers = [
                threading.Thread(target=self._run, name=f"flokit-sdk-{n}", daemon=True)
                for n in range(self._senders)
            ]
            for worker in self._workers:
                worker.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(self._ready, timeout=self.flush_interval)
                if self._closed and not self._backlog.events:
                    return
                batch = self._backlog.take(self.max_batch_events)
                self._in_flight += len(batch)
                self._lock.notify_all()  # room in the queue for blocked track() calls
            if batch:
                self._send_in_background(batch)
            with self._lock:
                self._in_flight -= len(batch)
                self._lock.notify_all()

    def _send_in_background(self, batch: list[dict[str, Any]]) -> None:
        """Deliver; rejections and failures are logged and reported, never swallowed."""
        try:
            result = self.send_batch(batch)
        except FloKitError as exc:
            self._outcome(batch, None, exc)
        else:
            self._outcome(batch, result, None)


def _close_at_exit(ref: weakref.ref[Client]) -> None:
    """Flush what ``track()`` queued when the program ends without ``close()``."""
    client = ref()
    if client is not None:
        client.close()
