"""The SDK's behaviour on the wire, with httpx.MockTransport and an injected sleep and clock."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from flokit_sdk import (
    APIError,
    AsyncClient,
    AuthenticationError,
    Client,
    DeliveryReport,
    PermissionDeniedError,
    RetriesExhaustedError,
    RetryPolicy,
    make_event,
)


def ok_body(events: list[Any], reject: frozenset[int]) -> dict[str, Any]:
    errors = [
        {
            "index": i,
            "event": e["event"],
            "reason": "Missing required field: currency",
            "code": "missing_field",
            "field": "properties.currency",
        }
        for i, e in enumerate(events)
        if i in reject
    ]
    ids = [f"evt_{i:020d}" for i in range(len(events) - len(errors))]
    return {
        "status": "ok",
        "accepted": len(ids),
        "rejected": len(errors),
        "duplicates": 0,
        "event_ids": ids,
        "errors": errors,
    }


class Recorder:
    """A scripted server: answers from ``script`` (status, headers) in turn, then 200."""

    def __init__(
        self,
        script: Sequence[tuple[int, dict[str, str]] | Exception] = (),
        reject: frozenset[int] | set[int] = frozenset(),
    ) -> None:
        self.script, self.reject = list(script), frozenset(reject)
        self.requests: list[httpx.Request] = []

    def events(self, request: httpx.Request) -> list[dict[str, Any]]:
        raw = request.content
        if request.headers.get("content-encoding") == "gzip":
            raw = gzip.decompress(raw)
        events: list[dict[str, Any]] = json.loads(raw)["events"]
        return events

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            status, headers = step
            if status != 200:
                return httpx.Response(
                    status, headers=headers, json={"error": "x", "message": f"status {status}"}
                )
        return httpx.Response(200, json=ok_body(self.events(request), self.reject))


def client(recorder: Recorder, sleeps: list[float] | None = None, **options: Any) -> Client:
    record = sleeps.append if sleeps is not None else (lambda _: None)
    return Client(
        "fk_rw_test",
        "http://flokit.test",
        transport=httpx.MockTransport(recorder),
        sleep=record,
        **options,
    )


EVENTS = [
    make_event("paywall_viewed", user_id=f"u{i}", properties={"paywall_id": "p"}) for i in range(3)
]


def test_retries_503_twice_then_succeeds_with_the_same_key_and_events() -> None:
    recorder, sleeps = Recorder([(503, {}), (503, {})]), []
    result = client(recorder, sleeps).send_batch(EVENTS)
    assert result.accepted == 3 and len(recorder.requests) == 3
    assert len({r.headers["Idempotency-Key"] for r in recorder.requests}) == 1
    assert len({r.content for r in recorder.requests}) == 1
    assert [e["insert_id"] for e in recorder.events(recorder.requests[0])] == [
        e["insert_id"] for e in EVENTS
    ]
    assert len(sleeps) == 2 and 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0  # full jitter


@pytest.mark.parametrize("status", [409, 429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    recorder = Recorder([(status, {})])
    assert client(recorder).send_batch(EVENTS).accepted == 3 and len(recorder.requests) == 2


def test_retry_after_seconds_and_http_date_are_honoured_and_capped() -> None:
    date = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    recorder = Recorder(
        [(429, {"Retry-After": "7"}), (503, {"Retry-After": date}), (429, {"Retry-After": "3600"})]
    )
    sleeps: list[float] = []
    client(recorder, sleeps, retry=RetryPolicy(max_retry_after_s=60)).send_batch(EVENTS)
    assert sleeps[0] == 7 and 25 <= sleeps[1] <= 30 and sleeps[2] == 60


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, APIError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (413, APIError),
        (422, APIError),
    ],
)
def test_never_retries_what_cannot_succeed(status: int, kind: type[Exception]) -> None:
    recorder = Recorder([(status, {})])
    with pytest.raises(kind) as raised:
        client(recorder).send_batch(EVENTS)
    assert len(recorder.requests) == 1 and raised.value.status == status  # type: ignore[attr-defined]


def test_connection_errors_are_retried() -> None:
    recorder = Recorder([httpx.ConnectError("refused"), httpx.ReadTimeout("slow")])
    assert client(recorder).send_batch(EVENTS).accepted == 3 and len(recorder.requests) == 3


def test_exhausted_retries_hand_back_the_events() -> None:
    recorder = Recorder([(503, {})] * 10)
    with pytest.raises(RetriesExhaustedError) as raised:
        client(recorder, retry=RetryPolicy(max_attempts=4)).send_batch(EVENTS)
    assert len(recorder.requests) == 4 and raised.value.events == EVENTS


def test_elapsed_budget_bounds_the_retries() -> None:
    now = [0.0]
    recorder = Recorder([(429, {"Retry-After": "20"})] * 10)

    def sleep(seconds: float) -> None:
        now[0] += seconds

    c = Client(
        "k",
        "http://t",
        transport=httpx.MockTransport(recorder),
        sleep=sleep,
        clock=lambda: now[0],
        retry=RetryPolicy(max_elapsed_s=50),
    )
    with pytest.raises(RetriesExhaustedError):
        c.send_batch(EVENTS)
    assert len(recorder.requests) == 3 and now[0] == 40


def test_chunks_of_1000_events_and_error_indices_in_the_callers_list() -> None:
    events = [make_event("e", user_id=str(i)) for i in range(2500)]
    recorder = Recorder(reject={0})
    result = client(recorder).send_batch(events)
    assert [len(recorder.events(r)) for r in recorder.requests] == [1000, 1000, 500]
    assert [e.index for e in result.errors] == [0, 1000, 2000]
    assert (
        result.errors[1].event is events[1000] and result.rejected == 3 and result.accepted == 2497
    )


def test_chunks_by_body_size() -> None:
    events = [make_event("e", user_id=str(i), properties={"blob": "x" * 1000}) for i in range(50)]
    recorder = Recorder()
    client(recorder, max_body_bytes=10_000).send_batch(events)
    sizes = [len(gzip.decompress(r.content)) for r in recorder.requests]
    assert len(sizes) > 5 and max(sizes) <= 10_000
    assert sum(len(recorder.events(r)) for r in recorder.requests) == 50


def test_bodies_are_gzipped_by_default() -> None:
    recorder = Recorder()
    client(recorder).send_batch(EVENTS)
    request = recorder.requests[0]
    assert (
        request.headers["Content-Encoding"] == "gzip"
        and request.headers["Authorization"] == "Bearer fk_rw_test"
    )
    plain = Recorder()
    client(plain, compress=False).send_batch(EVENTS)
    assert "Content-Encoding" not in plain.requests[0].headers


def test_track_fills_in_insert_id_and_utc_timestamp_and_flushes() -> None:
    recorder = Recorder()
    with client(recorder) as c:
        insert_id = c.track("signup", user_id="u1", properties={"plan_id": "p"})
        assert recorder.requests == []
        assert c.flush(timeout=10)
    sent = recorder.events(recorder.requests[0])[0]
    assert sent["insert_id"] == insert_id and sent["timestamp"].endswith("Z")
    assert sent["properties"] == {"plan_id": "p"} and sent["user_id"] == "u1"


def test_background_sender_flushes_every_1000_events() -> None:
    recorder = Recorder()
    c = client(recorder, flush_interval=60)
    for i in range(2000):
        c.track("e", user_id=str(i))
    c.flush(timeout=10)
    c.close()
    assert [len(recorder.events(r)) for r in recorder.requests] == [1000, 1000]


def test_drop_policy_counts_and_reports() -> None:
    dropped: list[dict[str, Any]] = []
    blocked = Recorder([(503, {})] * 3)
    c = client(
        blocked, max_queue_size=5, overflow="drop", on_drop=dropped.append, flush_interval=60
    )
    for i in range(8):
        c.track("e", user_id=str(i))
    assert c.dropped == 3 and [d["user_id"] for d in dropped] == ["5", "6", "7"]
    c.close()


def test_rejections_and_failures_reach_on_error() -> None:
    reports: list[DeliveryReport] = []
    rejecting = Recorder(reject={1})
    with client(rejecting, on_error=reports.append) as c:
        for i in range(3):
            c.track("e", user_id=str(i))
    assert len(reports) == 1 and reports[0].rejected[0].index == 1
    failing = Recorder([(503, {})] * 10)
    with client(failing, on_error=reports.append, retry=RetryPolicy(max_attempts=2)) as c:
        c.track("e", user_id="lost?")
    assert (
        isinstance(reports[1].error, RetriesExhaustedError)
        and reports[1].events[0]["user_id"] == "lost?"
    )


def async_client(recorder: Recorder, sleeps: list[float], **options: Any) -> AsyncClient:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    return AsyncClient(
        "fk_rw_test",
        "http://flokit.test",
        transport=httpx.MockTransport(recorder),
        sleep=sleep,
        **options,
    )


def test_async_client_retries_and_tracks() -> None:
    recorder, sleeps = Recorder([(503, {}), (429, {"Retry-After": "2"})]), []

    async def scenario() -> Any:
        async with async_client(recorder, sleeps) as c:
            result = await c.send_batch(EVENTS)
            for i in range(1500):
                await c.track("e", user_id=str(i))
        return result

    result = asyncio.run(scenario())
    assert result.accepted == 3 and sleeps[1] == 2
    assert len({r.headers["Idempotency-Key"] for r in recorder.requests[:3]}) == 1
    assert [len(recorder.events(r)) for r in recorder.requests[3:]] == [1000, 500]


def test_async_client_never_retries_a_403() -> None:
    recorder = Recorder([(403, {})])

    async def scenario() -> None:
        async with async_client(recorder, []) as c:
            await c.send_batch(EVENTS)

    with pytest.raises(PermissionDeniedError):
        asyncio.run(scenario())
    assert len(recorder.requests) == 1


def test_background_sender_flushes_every_interval() -> None:
    recorder = Recorder()
    c = client(recorder, flush_interval=0.1)
    c.track("e", user_id="u")
    deadline = time.monotonic() + 60  # liveness only: the interval is 0.1 s
    while not recorder.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    sent_before_close = len(recorder.requests)  # close() would flush it anyway
    c.close()
    assert sent_before_close == 1, "the interval passed and nothing was sent"
    assert (
        len(recorder.requests) == 1 and recorder.events(recorder.requests[0])[0]["user_id"] == "u"
    )


def test_block_policy_makes_track_wait_for_room() -> None:
    release = threading.Event()
    recorder = Recorder()

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(10)
        return recorder(request)

    c = Client(
        "k",
        "http://t",
        transport=httpx.MockTransport(slow),
        max_queue_size=1,
        max_batch_events=1,
        senders=1,
        flush_interval=60,
    )
    c.track("e", user_id="0")  # taken by the sender, which then waits on the server
    deadline = time.monotonic() + 60
    while c._in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    c.track("e", user_id="1")  # fills the queue
    third = threading.Thread(target=c.track, args=("e",), kwargs={"user_id": "2"})
    third.start()
    while third.is_alive() and not waiting_in(third, "track") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert waiting_in(third, "track"), "track() should wait while the queue is full"
    assert len(c._backlog.events) == 1  # its event is not queued (nor dropped) meanwhile
    release.set()
    third.join(10)
    c.close()
    assert not third.is_alive() and c.dropped == 0
    assert sorted(recorder.events(r)[0]["user_id"] for r in recorder.requests) == ["0", "1", "2"]


def waiting_in(thread: threading.Thread, function: str) -> bool:
    """Whether ``thread`` is blocked in a ``Condition.wait`` called from ``function``: what it
    is doing, observed in its stack, rather than guessed from how long it has run."""
    frame = sys._current_frames().get(thread.ident or -1)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "wait" in names and function in names[names.index("wait") :]
