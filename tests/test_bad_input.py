"""Bad requests get the contract's status, error body and reason, never a 500 (contract §2, §9)."""

from __future__ import annotations

import gzip
import json
import os
from typing import Any

import pytest

from conftest import Api, event

LIMIT = 10 * 1024 * 1024


def assert_error(response: Any, status: int, error: str, *, contains: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert set(body) <= {"error", "message", "field"} and body["message"]
    assert contains in body["message"]
    assert response.headers["x-request-id"]
    return body


@pytest.mark.parametrize(
    ("body", "error", "contains"),
    [
        (b'{"events": [}', "invalid_json", "line 1, column 13"),
        (b'{"events":\n  [{"event": x}]}', "invalid_json", "line 2, column 14"),
        (b'{"events": [{"event": "a"', "invalid_json", "truncated"),
        (b"", "invalid_json", "truncated"),
        (b'{"events": [{"event": "\xff"}]}', "invalid_json", "UTF-8"),
        (b'{"events": [], "x": "\xc3\x28"}', "invalid_json", "UTF-8"),
        (b'{"events": [{"timestamp": NaN}]}', "invalid_json", "line 1, column 27"),
        (b'{"events": ' + b"[" * 5000 + b"]" * 5000 + b"}", "invalid_json", "nested too deeply"),
        (b"[]", "invalid_request", "JSON object"),
        (b'"events"', "invalid_request", "JSON object"),
        (b"{}", "invalid_request", "`events` array"),
        (b'{"events": null}', "invalid_request", "`events` array"),
        (b'{"events": {"0": {}}}', "invalid_request", "array"),
        (b'{"events": "x"}', "invalid_request", "array"),
        (b'{"events": []}', "invalid_request", "at least one"),
    ],
    ids=[
        "malformed",
        "malformed line 2",
        "truncated",
        "empty body",
        "bad utf8 in event",
        "bad utf8 in envelope",
        "bare NaN",
        "deep nesting",
        "array body",
        "string body",
        "events missing",
        "events null",
        "events object",
        "events string",
        "events empty",
    ],
)
def test_request_level_errors(api: Api, body: bytes, error: str, contains: str) -> None:
    assert_error(api.post("/v1/batch/events", body), 400, error, contains=contains)


def test_too_many_events(api: Api) -> None:
    body = assert_error(api.batch([event()] * 1001), 400, "batch_too_large")
    assert "1001" in body["message"] and "1000" in body["message"]


def test_body_over_limit(api: Api) -> None:
    body = json.dumps({"events": [event(properties={"s": "x" * LIMIT})]}).encode()
    assert_error(api.post("/v1/batch/events", body), 413, "payload_too_large", contains=str(LIMIT))


def test_gzip_body_over_limit(api: Api) -> None:
    body = gzip.compress(os.urandom(LIMIT + 4096), compresslevel=1)  # incompressible
    assert len(body) > LIMIT
    response = api.post("/v1/batch/events", body, **{"Content-Encoding": "gzip"})
    assert_error(response, 413, "payload_too_large")


def test_gzip_bomb(api: Api) -> None:
    bomb = gzip.compress(b'{"events": ["' + b"0" * (50 * LIMIT) + b'"]}')
    assert len(bomb) < 1024 * 1024
    response = api.post("/v1/batch/events", bomb, **{"Content-Encoding": "gzip"})
    assert_error(response, 413, "payload_too_large", contains="Decompressed")


@pytest.mark.parametrize(
    "body",
    [b"not gzip at all", gzip.compress(b'{"events": []}')[:-12]],
    ids=["corrupt", "truncated"],
)
def test_corrupt_gzip(api: Api, body: bytes) -> None:
    response = api.post("/v1/batch/events", body, **{"Content-Encoding": "gzip"})
    assert_error(response, 400, "invalid_request", contains="gzip")


def test_gzip_body_is_accepted(api: Api) -> None:
    body = gzip.compress(json.dumps({"events": [event(), event()]}).encode())
    response = api.post("/v1/batch/events", body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 200 and response.json()["accepted"] == 2


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type(api: Api, content_type: str) -> None:
    response = api.post("/v1/batch/events", b"{}", **{"Content-Type": content_type})
    assert_error(response, 415, "unsupported_media_type", contains="application/json")


def test_content_type_with_charset_is_fine(api: Api) -> None:
    body = json.dumps({"events": [event()]}).encode()
    response = api.post(
        "/v1/batch/events", body, **{"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200


def test_unsupported_content_encoding(api: Api) -> None:
    response = api.post("/v1/batch/events", b"{}", **{"Content-Encoding": "br"})
    assert_error(response, 415, "unsupported_media_type", contains="gzip")


def test_events_of_every_wrong_kind_are_rejected_one_by_one(api: Api) -> None:
    body = api.batch([1, "s", [event()], None, True, event()]).json()
    assert (body["accepted"], body["rejected"]) == (1, 5)
    assert [e["index"] for e in body["errors"]] == [0, 1, 2, 3, 4]
    assert all(
        e["reason"] == "Event must be a JSON object" and e["event"] is None for e in body["errors"]
    )


def test_ten_megabyte_string_is_one_too_large_event(api: Api) -> None:
    body = api.batch([event(properties={"s": "x" * 10_000_000}), event()]).json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["errors"][0]["code"] == "too_large"
    assert body["errors"][0]["reason"].startswith("Event too large: 10000")


def test_duplicate_json_keys_last_one_wins(api: Api) -> None:
    raw = (
        b'{"events": [{"event": "nope", "event": "paywall_viewed", "user_id": "u",'
        b' "timestamp": "2024-03-15T14:20:00Z",'
        b' "properties": {"paywall_id": "a", "paywall_id": "b"}}]}'
    )
    body = api.post("/v1/batch/events", raw).json()
    assert body["accepted"] == 1
    stored = api.client.get(f"/v1/events/{body['event_ids'][0]}", headers=api.headers()).json()
    assert (stored["event"], stored["properties"]) == ("paywall_viewed", {"paywall_id": "b"})


@pytest.mark.parametrize("path", ["/v1/batch/events", "/v1/events"])
def test_nothing_is_stored_from_a_refused_request(api: Api, path: str) -> None:
    api.post(path, b'{"events": [' + json.dumps(event()).encode() + b', {"event": "\xff"}]}')
    listed = api.client.get("/v1/events", headers=api.headers()).json()
    assert listed["events"] == []


def test_single_event_body_errors(api: Api) -> None:
    assert_error(api.post("/v1/events", b"[1]"), 400, "invalid_request")
    assert_error(api.post("/v1/events", b"{"), 400, "invalid_json")
    assert_error(api.post("/v1/events", b"{}"), 400, "validation_error", contains="event")
    big = json.dumps(event(properties={"s": "x" * 40000})).encode()
    assert_error(api.post("/v1/events", big), 400, "validation_error", contains="Event too large")


def test_unknown_route_and_method(api: Api) -> None:
    assert_error(api.client.get("/v2/nothing"), 404, "not_found")
    assert_error(
        api.client.delete("/v1/batch/events", headers=api.headers()), 405, "method_not_allowed"
    )


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/v1/batch/events", "POST"),
        ("DELETE", "/v1/events", "GET, HEAD, POST"),
        ("OPTIONS", "/v1/imports", "GET, HEAD, POST"),
        ("PUT", "/v1/imports/imp_x", "GET, HEAD"),
    ],
)
def test_a_wrong_method_names_every_method_of_the_path(
    api: Api, method: str, path: str, allowed: str
) -> None:
    """A path served by two routes (GET and POST /v1/events) lists both in ``Allow``."""
    response = api.client.request(method, path, headers=api.headers())
    assert_error(response, 405, "method_not_allowed", contains=allowed)
    assert response.headers["allow"] == allowed


def test_nul_in_ids_is_rejected_per_event_on_every_backend(api: Api) -> None:
    """No id holds NUL (PostgreSQL's text cannot): the event is rejected, never a 500."""
    purchase = event("subscription_started")
    purchase["properties"]["transaction_id"] = "txn\x00"
    batch = [
        event(user_id="usr\x00"),
        event(anonymous_id="a\x00", user_id=None),
        event(insert_id="ins\x00"),
        purchase,
        event(),
    ]
    answer = api.batch(batch)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (1, 4)
    fields = sorted(e["field"] for e in body["errors"])
    assert fields == ["anonymous_id", "insert_id", "properties.transaction_id", "user_id"]


def test_nul_in_a_read_filter_is_a_400(api: Api) -> None:
    answer = api.client.get("/v1/events", params={"user_id": "u\x00"}, headers=api.headers())
    assert answer.status_code == 400 and answer.json()["field"] == "user_id"
