"""State and decisions shared by ``Client`` and ``AsyncClient``; they add only the I/O."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from flokit_sdk._core import Chunk, DeliveryReport, RetryPolicy, chunks, jitter
from flokit_sdk._queue import Backlog, OnDrop, Overflow
from flokit_sdk.errors import FloKitError, RetriesExhaustedError
from flokit_sdk.results import BatchResult

log = logging.getLogger("flokit_sdk")
OnError = Callable[[DeliveryReport], None]


class ClientBase:
    """Configuration, the ``track()`` backlog, retry budgeting and error reporting."""

    def _configure(
        self,
        api_key: str,
        *,
        compress: bool,
        max_batch_events: int,
        max_body_bytes: int,
        flush_interval: float,
        max_queue_size: int,
        overflow: Overflow,
        on_error: OnError | None,
        on_drop: OnDrop | None,
        retry: RetryPolicy | None,
        clock: Callable[[], float],
    ) -> None:
        self.api_key, self.compress = api_key, compress
        self.max_batch_events, self.max_body_bytes = max_batch_events, max_body_bytes
        self.flush_interval, self.on_error = flush_interval, on_error
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._backlog = Backlog(max_queue_size, overflow, on_drop)
        self._in_flight = 0
        self._flushing = self._closed = False

    @property
    def dropped(self) -> int:
        """Events dropped by the ``drop`` overflow policy so far."""
        return self._backlog.dropped

    def _chunks(self, events: list[dict[str, Any]]) -> Iterator[Chunk]:
        return chunks(events, self.max_batch_events, self.max_body_bytes, self.compress)

    def _backoff(
        self, chunk: Chunk, attempt: int, started: float, wait: float | None, last: str
    ) -> float:
        """Seconds before the next attempt, or ``RetriesExhaustedError`` past the budget."""
        elapsed = self._clock() - started
        delay = self.retry.delay(attempt, wait, jitter)
        if not self.retry.allows(attempt, elapsed, delay):
            message = f"gave up after {attempt} attempts in {elapsed:.1f} s: {last}"
            raise RetriesExhaustedError(message, chunk.events, last)
        return delay

    def _enqueue(self, doc: dict[str, Any]) -> bool:
        """Queue (or, full under ``drop``, drop) one event; whether a batch is now ready."""
        if self._backlog.full():
            self._backlog.drop(doc)
            return False
        self._backlog.events.append(doc)
        return len(self._backlog.events) >= self.max_batch_events

    def _must_wait(self) -> bool:
        """``track()`` must wait for room: the queue is full under the ``block`` policy."""
        return self._backlog.full() and self._backlog.overflow == "block"

    def _ready(self) -> bool:
        queued = len(self._backlog.events)
        return queued >= self.max_batch_events or self._closed or (self._flushing and queued > 0)

    def _outcome(
        self, batch: list[dict[str, Any]], result: BatchResult | None, error: FloKitError | None
    ) -> None:
        """Background delivery's end: rejections and failures are logged and reported."""
        if error is not None:
            log.error("FloKit: %d events not delivered: %s", len(batch), error)
            self._report(DeliveryReport(batch, None, error))
        elif result is not None and result.rejected:
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
