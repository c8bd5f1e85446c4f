"""The SDK's two clients are one API: ``AsyncClient`` has ``Client``'s options and methods, and
its at-exit fallback sends with the settings the caller gave (compression, limits, transport)."""

from __future__ import annotations

import asyncio
import gzip
import inspect
import json
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from flokit_sdk import AsyncClient, Client

#: The only annotations allowed to differ: what is I/O (a transport, a sleep) in each world.
ASYNC_COUNTERPARTS = {
    "httpx.BaseTransport | None": "httpx.AsyncBaseTransport | None",
    "Callable[[float], None]": "Callable[[float], Awaitable[None]]",
}
#: The sync world's context manager and the async one's.
CONTEXT = {"__enter__": "__aenter__", "__exit__": "__aexit__"}


def public_methods(cls: type) -> dict[str, Callable[..., Any]]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") or name in CONTEXT or name in CONTEXT.values()
    }


def shape(function: Callable[..., Any], *, async_side: bool) -> list[tuple[Any, ...]]:
    """Each parameter's name, kind, default and annotation; the return annotation last. The
    async side's I/O annotations are mapped back to their sync counterparts."""
    signature = inspect.signature(function)
    back = {a: s for s, a in ASYNC_COUNTERPARTS.items()} if async_side else {}
    params = [
        (
            p.name,
            p.kind,
            "<sleep>" if p.name == "sleep" else p.default,
            back.get(str(p.annotation), str(p.annotation)),
        )
        for p in signature.parameters.values()
    ]
    returns = str(signature.return_annotation)
    return [*params, ("return", returns.replace("AsyncClient", "Client"))]


def test_async_client_takes_the_same_constructor_options() -> None:
    assert shape(AsyncClient.__init__, async_side=True) == shape(Client.__init__, async_side=False)


def test_async_client_has_every_public_method_of_client_with_the_same_signature() -> None:
    sync, asynchronous = public_methods(Client), public_methods(AsyncClient)
    assert sorted(CONTEXT.get(name, name) for name in sync) == sorted(asynchronous)
    for name, method in sync.items():
        counterpart = asynchronous[CONTEXT.get(name, name)]
        assert inspect.iscoroutinefunction(counterpart), name
        assert not inspect.iscoroutinefunction(method), name
        if name in CONTEXT:
            continue  # (self) -> Self and (self, *exc_info) -> None on both sides
        assert shape(counterpart, async_side=True) == shape(method, async_side=False), name
    assert public_properties(AsyncClient) == public_properties(Client) != set()


def public_properties(cls: type) -> set[str]:
    return {name for name, member in inspect.getmembers(cls) if isinstance(member, property)}


class Recorder(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A real HTTP server on a Unix socket that answers every batch as accepted and keeps each
    request's headers and body."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        super().__init__(str(path), _RecordingHandler)


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.requests.append((headers, body))
        raw = gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
        count = len(json.loads(raw)["events"])
        answer = json.dumps(
            {
                "status": "ok",
                "accepted": count,
                "rejected": 0,
                "duplicates": 0,
                "event_ids": [f"evt_{i}" for i in range(count)],
                "errors": [],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet (and a Unix socket has no client address to print)."""


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Recorder]:
    server = Recorder(tmp_path / "s.sock")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(10)


#: Never-closed AsyncClient: 7 events queued when the loop ends. The host does not exist
#: (.invalid never resolves): only the configured Unix-socket transport reaches the recorder.
AT_EXIT = """
import asyncio, sys, httpx, flokit_sdk
async def main():
    c = flokit_sdk.AsyncClient(
        "fk_rw_test", "http://flokit.invalid", flush_interval=3600, compress=False,
        max_batch_events=3, max_body_bytes=int(sys.argv[2]),
        transport=httpx.AsyncHTTPTransport(uds=sys.argv[1]),
        retry=flokit_sdk.RetryPolicy(max_attempts=2, base_s=0.01),
    )
    for i in range(7):
        await c.track("paywall_viewed", user_id=f"exit{i}", properties={"paywall_id": "pw"})
    return c
client = asyncio.run(main())
"""


def test_async_client_at_exit_sends_with_the_configured_compression_limits_and_transport(
    recorder: Recorder, tmp_path: Path
) -> None:
    max_body_bytes = 330  # two of these events fit, three do not
    done = subprocess.run(
        [sys.executable, "-c", AT_EXIT, str(tmp_path / "s.sock"), str(max_body_bytes)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert recorder.requests, done.stderr
    bodies = [body for _, body in recorder.requests]
    assert all("content-encoding" not in headers for headers, _ in recorder.requests)
    batches = [json.loads(body)["events"] for body in bodies]  # plain JSON: compress=False
    assert all(
        len(b) <= 3 and len(body) <= max_body_bytes for b, body in zip(batches, bodies, strict=True)
    )
    three = json.dumps({"events": batches[0][:1] * 3}, separators=(",", ":"))
    assert len(three) > max_body_bytes, "the body limit must be the one that splits"
    users = sorted(e["user_id"] for b in batches for e in b)
    assert users == [f"exit{i}" for i in range(7)]


def test_async_flush_answers_whether_everything_was_delivered() -> None:
    """False while the server holds the only request (however long the timeout), True once it
    answered: as ``Client.flush``."""

    async def scenario() -> tuple[bool, bool, int]:
        release, received = asyncio.Event(), asyncio.Event()
        sent: list[httpx.Request] = []

        async def server(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            received.set()
            await release.wait()
            count = len(json.loads(gzip.decompress(request.content))["events"])
            return httpx.Response(200, json={"accepted": count, "rejected": 0, "errors": []})

        transport = httpx.MockTransport(server)
        async with AsyncClient("fk_rw_test", "http://t", transport=transport) as flokit:
            await flokit.track("e", user_id="u")
            held = await flokit.flush(timeout=0.01)
            await received.wait()
            release.set()
            delivered = await flokit.flush(timeout=60)
        return held, delivered, len(sent)

    assert asyncio.run(scenario()) == (False, True, 1)
