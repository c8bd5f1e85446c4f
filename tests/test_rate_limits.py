"""Per-workspace rate limits (contract §7): the bucket arithmetic and the HTTP behaviour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from flokit.app import build_app
from flokit.model import Workspace
from flokit.pipeline.limits import Bucket, take
from flokit.settings import Settings
from flokit.store import Store, open_store

from backends import ALL_BACKENDS
from conftest import event, settings_for


def test_new_bucket_is_full_and_the_next_token_takes_0_6_s() -> None:
    bucket: Bucket | None = None
    for spent in range(100):
        decision, bucket = take(bucket, 100, 1000.0, spend=True)
        assert decision.allowed and decision.remaining == 99 - spent
    refused, bucket = take(bucket, 100, 1000.0, spend=True)
    assert not refused.allowed and refused.wait_s == 1 and refused.remaining == 0
    later, _ = take(bucket, 100, 1000.6, spend=True)
    assert later.allowed


def test_wait_is_the_true_time_to_the_next_token() -> None:
    _, bucket = take(None, 6, 0.0, spend=False)  # 6 per minute: one token every 10 s
    for _ in range(6):
        _, bucket = take(bucket, 6, 0.0, spend=True)
    refused, _ = take(bucket, 6, 3.0, spend=True)
    assert (refused.allowed, refused.wait_s) == (False, 7)
    assert refused.headers()["Retry-After"] == "7"


def test_peek_spends_nothing() -> None:
    decision, bucket = take(None, 5, 0.0, spend=False)
    assert decision.remaining == 5 and bucket.tokens == 5.0


@given(
    st.lists(st.floats(min_value=0, max_value=300, allow_nan=False), min_size=1, max_size=400),
    st.integers(min_value=1, max_value=50),
)
def test_never_admits_more_than_capacity_plus_refill(times: list[float], limit: int) -> None:
    bucket, admitted = None, []
    for now in sorted(times):
        decision, bucket = take(bucket, limit, now, spend=True)
        if decision.allowed:
            admitted.append(now)
    for start in admitted:  # every 60 s window from any admitted request
        inside = [t for t in admitted if start <= t < start + 60]
        assert len(inside) <= limit + limit  # capacity + 60 s of refill


@dataclass
class Limited:
    client: TestClient
    store: Store
    now: list[float]
    keys: dict[str, str]
    workspaces: dict[str, Workspace]

    def send(self, body: Any = None, workspace: str = "a", **headers: str) -> Any:
        content = (
            json.dumps(body or {"events": [event()]}).encode()
            if not isinstance(body, bytes)
            else body
        )
        return self.client.post(
            "/v1/batch/events",
            content=content,
            headers={
                "Authorization": f"Bearer {self.keys[workspace]}",
                "Content-Type": "application/json",
                **headers,
            },
        )


@pytest.fixture(params=ALL_BACKENDS)
def limited(request: pytest.FixtureRequest) -> Iterator[Limited]:
    settings = settings_for(request.param, request, default_requests_per_minute=3)
    store = open_store(settings)
    created = {name: store.create_workspace(name) for name in ("a", "b")}
    keys = {name: issued.secret for name, (_, issued) in created.items()}
    workspaces = {name: workspace for name, (workspace, _) in created.items()}
    now = [1_800_000_000.0]
    try:
        with TestClient(build_app(settings, store=store, clock=lambda: now[0])) as client:
            yield Limited(client, store, now, keys, workspaces)
    finally:
        store.close()


def test_headers_and_429(limited: Limited) -> None:
    answers = [limited.send() for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"ingest";q=3;w=60'
    assert [a.headers["RateLimit"] for a in answers] == [
        '"ingest";r=2;t=0',
        '"ingest";r=1;t=0',
        '"ingest";r=0;t=20',
        '"ingest";r=0;t=20',
    ]
    refused = answers[3]
    assert refused.headers["Retry-After"] == "20"
    assert (
        refused.json()["error"] == "rate_limited"
        and "3 ingest requests per minute" in refused.json()["message"]
    )


def test_refill_admits_again(limited: Limited) -> None:
    for _ in range(3):
        limited.send()
    limited.now[0] += 19.9
    assert limited.send().status_code == 429
    limited.now[0] += 0.2
    assert limited.send().status_code == 200


def test_workspaces_have_their_own_buckets(limited: Limited) -> None:
    for _ in range(4):
        limited.send()
    assert limited.send(workspace="b").status_code == 200


def test_refused_requests_spend_no_quota(limited: Limited) -> None:
    for _ in range(5):
        assert limited.send(b'{"events": [').status_code == 400
        assert limited.send(b"{}").status_code == 400
        assert limited.send(b"x", **{"Content-Type": "text/plain"}).status_code == 415
    bad_key = limited.client.post(
        "/v1/batch/events", json={"events": [event()]}, headers={"Authorization": "Bearer nope"}
    )
    assert bad_key.status_code == 401 and "RateLimit" not in bad_key.headers
    assert [limited.send().status_code for _ in range(3)] == [200, 200, 200]


def test_body_errors_after_auth_still_carry_the_headers(limited: Limited) -> None:
    refused = limited.send(b"[")
    assert refused.status_code == 400 and refused.headers["RateLimit"] == '"ingest";r=3;t=0'


def test_replays_spend_no_quota(limited: Limited) -> None:
    body = {"events": [event()]}
    assert limited.send(body, **{"Idempotency-Key": "k"}).status_code == 200
    for _ in range(5):
        assert (
            limited.send(body, **{"Idempotency-Key": "k"}).headers["Idempotent-Replayed"] == "true"
        )
    assert [limited.send().status_code for _ in range(3)] == [200, 200, 429]


def test_single_event_validation_errors_spend_no_quota(limited: Limited) -> None:
    for _ in range(5):
        response = limited.client.post(
            "/v1/events",
            json=event(timestamp=None),
            headers={
                "Authorization": f"Bearer {limited.keys['a']}",
                "Content-Type": "application/json",
            },
        )
        assert response.status_code == 400
    assert [limited.send().status_code for _ in range(3)] == [200, 200, 200]


def test_a_workspace_limit_applies_on_the_next_request(limited: Limited) -> None:
    for _ in range(3):
        limited.send()
    workspace = limited.workspaces["a"]
    limited.store.set_workspace_limit(workspace, 1000)
    response = limited.send()
    assert (
        response.status_code == 200
        and response.headers["RateLimit-Policy"] == '"ingest";q=1000;w=60'
    )


def test_rate_limits_can_be_switched_off(tmp_path: Path) -> None:
    settings = Settings(
        db=str(tmp_path / "u.db"),
        log_requests=False,
        default_requests_per_minute=1,
        rate_limits=False,
    )
    store = open_store(settings)
    _, issued = store.create_workspace("w")
    auth = {"Authorization": f"Bearer {issued.secret}", "Content-Type": "application/json"}
    try:
        with TestClient(build_app(settings, store=store)) as client:
            answers = [
                client.post("/v1/batch/events", json={"events": [event()]}, headers=auth)
                for _ in range(3)
            ]
    finally:
        store.close()
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[-1].headers["RateLimit"] == '"ingest";r=1;t=0'
