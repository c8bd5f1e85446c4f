"""Oversized bodies from clients that send the whole body before reading the answer (Python's
``urllib``, no ``Expect: 100-continue``) get their 413, not a connection reset, from a real
``flokit serve``; the drain that makes it so is bounded, and leaves ``Expect`` clients alone."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from server import Server, cli

MIB = 1024 * 1024
BODY_LIMIT = 10 * MIB  # the default FLOKIT_MAX_BODY_BYTES
IMPORT_LIMIT = 1 * MIB
DRAIN_LIMIT = 32 * MIB
ENV = {
    "FLOKIT_IMPORT_MAX_BYTES": str(IMPORT_LIMIT),
    "FLOKIT_MAX_DRAIN_BYTES": str(DRAIN_LIMIT),
    "FLOKIT_PROJECTOR": "false",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """One server for the module (these tests store nothing) and a read-write key."""
    root = tmp_path_factory.mktemp("bodies")
    db = root / "bodies.db"
    key: str = cli(db, "workspaces", "create", "bodies")["api_key"]
    server = Server(db, log=root / "server.log", env=ENV)
    yield server, key
    server.stop()


def post_with_urllib(
    url: str, key: str, body: bytes | Iterable[bytes], media: str
) -> tuple[int, dict[str, Any]]:
    """POST the way urllib does: the whole body first (``Connection: close``), then read. An
    iterable body goes out chunked, without a Content-Length."""
    request = urllib.request.Request(
        url, data=body, headers={"Authorization": f"Bearer {key}", "Content-Type": media}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def oversized_json(size: int) -> bytes:
    return b'{"events": [' + b" " * size + b"]}"


@pytest.mark.parametrize("path", ["/v1/batch/events", "/v1/events"])
def test_twenty_megabytes_from_urllib_get_413_every_time(
    served: tuple[Server, str], path: str
) -> None:
    server, key = served
    body = oversized_json(20_000_000)
    for _ in range(5):  # it used to be a reset ten times out of ten
        status, answer = post_with_urllib(server.url + path, key, body, "application/json")
        assert status == 413, answer
        assert answer["error"] == "payload_too_large"
        assert f"limit of {BODY_LIMIT} bytes" in answer["message"]


def test_oversized_import_from_urllib_gets_413(served: tuple[Server, str]) -> None:
    server, key = served
    row = b"app_opened,2024-03-15T14:20:00Z\n"
    rows = b"event,timestamp\n" + row * (20_000_000 // len(row))
    status, answer = post_with_urllib(server.url + "/v1/imports", key, rows, "text/csv")
    assert status == 413, answer  # refused on its Content-Length, before any read
    assert f"limit of {IMPORT_LIMIT} bytes" in answer["message"]
    chunks = (rows[at : at + MIB] for at in range(0, len(rows), MIB))
    status, answer = post_with_urllib(server.url + "/v1/imports", key, chunks, "text/csv")
    assert status == 413, answer  # chunked: refused while it streams to disk
    assert f"limit of {IMPORT_LIMIT} bytes" in answer["message"]


def test_a_body_past_the_drain_bound_is_cut_off(served: tuple[Server, str]) -> None:
    """Beyond the bound the server reads no more: the client cannot finish sending."""
    server, key = served
    body = oversized_json(BODY_LIMIT + DRAIN_LIMIT + MIB)
    with pytest.raises(urllib.error.URLError) as failure:
        post_with_urllib(server.url + "/v1/batch/events", key, body, "application/json")
    assert isinstance(failure.value.reason, ConnectionError)


def test_an_expect_100_continue_client_is_answered_without_sending(
    served: tuple[Server, str],
) -> None:
    """No ``100 Continue`` (which would ask for the 20 MB): the 413 comes first, at once."""
    server, key = served
    head = (
        "POST /v1/batch/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        "Content-Length: 20000000\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        status_line = sock.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.1 413 "), status_line


def test_a_wrong_key_with_a_big_body_is_a_401_not_a_reset(served: tuple[Server, str]) -> None:
    """Any answer given before the body was read is delivered, not only the 413."""
    server, _ = served
    body = oversized_json(5_000_000)
    status, answer = post_with_urllib(
        server.url + "/v1/batch/events", "fk_rw_wrong", body, "application/json"
    )
    assert status == 401, answer
