"""Idempotency-Key on both ingest endpoints (contract §6), in-process."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from flokit.app import build_app
from flokit.pipeline.limits import Decision, Unlimited
from flokit.settings import Settings
from flokit.store import Store, open_store

from backends import ALL_BACKENDS
from conftest import Api, event


@pytest.fixture(params=ALL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """In-flight keys and their 409s live in Redis too: every test here runs on it as well."""
    name: str = request.param
    return name


def post(api: Api, key: str, body: Any, path: str = "/v1/batch/events", **headers: str) -> Any:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.post(path, content, **{"Idempotency-Key": key, **headers})


def stored(api: Api) -> int:
    return len(api.client.get("/v1/events?limit=1000", headers=api.headers()).json()["events"])


def test_repeat_replays_status_and_body_byte_for_byte(api: Api) -> None:
    batch = {"events": [event(), event(timestamp=None)]}
    first = post(api, "k1", batch)
    again = post(api, "k1", batch)
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["FloKit-Rejected"] == first.headers["FloKit-Rejected"] == "1"
    assert stored(api) == 1


def test_single_event_repeat_answers_the_original_event_id(api: Api) -> None:
    first = post(api, "one", event(), path="/v1/events").json()
    again = post(api, "one", event(), path="/v1/events")
    assert again.json() == first and again.headers["Idempotent-Replayed"] == "true"
    assert stored(api) == 1


def test_same_key_other_body_is_422(api: Api) -> None:
    post(api, "k", {"events": [event()]})
    response = post(api, "k", {"events": [event(), event()]})
    assert response.status_code == 422 and response.json()["error"] == "idempotency_key_reused"
    other_path = post(api, "k", event(), path="/v1/events")
    assert other_path.status_code == 422
    assert stored(api) == 1


def test_gzip_and_plain_of_one_body_are_the_same_request(api: Api) -> None:
    body = json.dumps({"events": [event()]}).encode()
    first = post(api, "gz", body)
    again = post(api, "gz", gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.content == first.content


def test_quoted_structured_field_key_is_the_same_key(api: Api) -> None:
    first = post(api, "abc", {"events": [event()]})
    again = post(api, '"abc"', {"events": [event()]})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.content == first.content


@pytest.mark.parametrize(
    "key",
    ["", " ", "x" * 256, "ключ", "a b", "tab\there", '""'],
    ids=["empty", "blank", "too long", "non-ascii", "space", "control", "empty quoted"],
)
def test_malformed_key_is_400(api: Api, key: str) -> None:
    raw = json.dumps({"events": [event()]}).encode()
    response = api.client.post(
        "/v1/batch/events", content=raw, headers={**api.headers(), "Idempotency-Key": key.encode()}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_idempotency_key"
    assert stored(api) == 0


def test_failed_request_is_not_kept(api: Api) -> None:
    assert post(api, "retry-me", b'{"events": [').status_code == 400
    response = post(api, "retry-me", {"events": [event()]})
    assert response.status_code == 200 and "Idempotent-Replayed" not in response.headers


def test_key_is_scoped_to_its_workspace(api: Api) -> None:
    _, other = api.store.create_workspace("other")
    first = post(api, "same-key", {"events": [event()]})
    second = api.post(
        "/v1/batch/events",
        json.dumps({"events": [event()]}).encode(),
        Authorization=f"Bearer {other.secret}",
        **{"Idempotency-Key": "same-key"},
    )
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["event_ids"] != first.json()["event_ids"]


def test_key_expires_after_its_retention(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    settings = Settings(
        db=str(tmp_path / "f.db"), log_requests=False, idempotency_retention_hours=24
    )
    store = open_store(settings)
    _, issued = store.create_workspace("w")
    headers = {
        "Authorization": f"Bearer {issued.secret}",
        "Content-Type": "application/json",
        "Idempotency-Key": "old",
    }
    body = {"events": [event(timestamp="2027-01-15T08:00:00Z")]}
    from starlette.testclient import TestClient

    try:
        with TestClient(build_app(settings, store=store, clock=lambda: now[0])) as client:
            first = client.post("/v1/batch/events", json=body, headers=headers)
            now[0] += 23 * 3600
            replay = client.post("/v1/batch/events", json=body, headers=headers)
            now[0] += 2 * 3600
            fresh = client.post("/v1/batch/events", json=body, headers=headers)
    finally:
        store.close()
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in fresh.headers
    assert fresh.json()["event_ids"] != first.json()["event_ids"]


def test_concurrent_repeats_store_once_and_answer_the_response_or_409(api: Api) -> None:
    body = json.dumps({"events": [event(user_id=f"u{i}") for i in range(300)]}).encode()
    headers = {**api.headers(), "Idempotency-Key": "burst"}

    def send(_: int) -> httpx.Response:
        return api.client.post("/v1/batch/events", content=body, headers=headers)

    with ThreadPoolExecutor(20) as pool:  # 20 requests at once into the app's one event loop
        answers = list(pool.map(send, range(20)))
    ok = [a for a in answers if a.status_code == 200]
    busy = [a for a in answers if a.status_code == 409]
    assert len(ok) + len(busy) == 20 and ok
    assert len({a.content for a in ok}) == 1
    assert all(
        a.headers["Retry-After"] == "1" and a.json()["error"] == "idempotency_key_in_use"
        for a in busy
    )
    assert stored(api) == 300


class HeldLimiter(Unlimited):
    """Admits every request (rate limits are not under test here), but holds the first one at a
    gate the test opens: inside the pipeline, past its in-flight mark, for as long as the test
    needs (the app takes its limiter as an argument)."""

    def __init__(self) -> None:
        self._held = False
        self.entered, self.release = threading.Event(), threading.Event()

    async def acquire(self, workspace_id: int, limit: int, now_s: float) -> Decision:
        if not self._held:
            self._held = True
            self.entered.set()
            await asyncio.to_thread(self.release.wait, 60)
        return await super().acquire(workspace_id, limit, now_s)


def test_a_repeat_while_the_first_is_running_is_409_then_replays(
    settings: Settings, store: Store
) -> None:
    from starlette.testclient import TestClient

    _, issued = store.create_workspace("w")
    gate = HeldLimiter()
    body = json.dumps({"events": [event()]}).encode()
    headers = {
        "Authorization": f"Bearer {issued.secret}",
        "Content-Type": "application/json",
        "Idempotency-Key": "held",
    }
    with (
        TestClient(build_app(settings, store=store, limiter=gate)) as client,
        ThreadPoolExecutor(1) as pool,
    ):
        first = pool.submit(client.post, "/v1/batch/events", content=body, headers=headers)
        assert gate.entered.wait(60), "the first request never reached the rate limiter"
        try:
            repeat = client.post("/v1/batch/events", content=body, headers=headers)
        finally:
            gate.release.set()
        answered = first.result(60)
        replay = client.post("/v1/batch/events", content=body, headers=headers)
    assert repeat.status_code == 409 and repeat.headers["Retry-After"] == "1"
    assert repeat.json()["error"] == "idempotency_key_in_use"
    assert answered.status_code == 200 and answered.json()["accepted"] == 1
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.content == answered.content
