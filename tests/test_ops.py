"""Health, readiness, metrics, OpenAPI, request ids, access log, and the 500 path."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from flokit.api import events
from flokit.api.routes import ENDPOINTS
from flokit.app import build_app
from flokit.openapi import build_document
from flokit.settings import Settings
from flokit.store import open_store

from conftest import Api, event


def test_healthz_and_readyz(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").json() == {"status": "ready", "backend": api.store.backend}


def test_readyz_fails_and_writes_answer_503_once_the_store_is_closed(api: Api) -> None:
    api.store.close()
    response = api.client.get("/readyz")
    assert response.status_code == 503 and response.json()["error"] == "unavailable"
    refused = api.batch([event()])
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"


def test_metrics_count_requests_events_and_latency(api: Api) -> None:
    api.batch([event(), event(timestamp=None), event(insert_id="a"), event(insert_id="a")])
    api.client.post("/v1/batch/events", content=b"{", headers=api.headers())
    text = api.client.get("/metrics").text
    assert 'flokit_http_requests_total{route="batch",status="200"} 1.0' in text
    assert 'flokit_http_requests_total{route="batch",status="400"} 1.0' in text
    assert 'flokit_events_total{code="",outcome="accepted"} 2.0' in text
    assert 'flokit_events_total{code="",outcome="duplicate"} 1.0' in text
    assert 'flokit_events_total{code="missing_field",outcome="rejected"} 1.0' in text
    assert "flokit_batch_duration_seconds_count 2.0" in text


def test_request_id_is_echoed_or_made(api: Api) -> None:
    assert (
        api.client.get("/healthz", headers={"X-Request-Id": "abc-1"}).headers["x-request-id"]
        == "abc-1"
    )
    made = api.client.get("/healthz").headers["x-request-id"]
    assert made.startswith("req_") and made != api.client.get("/healthz").headers["x-request-id"]


def test_openapi_describes_every_route_the_app_serves(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    routes = {
        (re.sub(r":\w+}", "}", route.path), method.lower())  # {user_id:path} is {user_id}
        for route in api.client.app.routes  # type: ignore[attr-defined]
        for method in route.methods - {"HEAD"}
    }
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert routes == documented
    batch = document["paths"]["/v1/batch/events"]["post"]
    statuses = {"200", "400", "401", "403", "409", "413", "415", "422", "429", "500", "503"}
    assert statuses == set(batch["responses"])
    assert "Idempotency-Key" in {p["name"] for p in batch["parameters"]}
    assert {"RateLimit", "RateLimit-Policy"} <= set(batch["responses"]["200"]["headers"])
    assert "Retry-After" in batch["responses"]["429"]["headers"]
    limit = next(
        p for p in document["paths"]["/v1/events"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (
        events.MAX_LIMIT,
        events.DEFAULT_LIMIT,
    )


def test_openapi_limits_follow_the_servers_settings() -> None:
    document = build_document(ENDPOINTS, Settings(max_batch_events=7))
    batch = document["components"]["schemas"]["BatchRequest"]["properties"]["events"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 7)


def test_one_structured_log_line_per_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(db=str(tmp_path / "f.db"))
    store = open_store(settings)
    _, issued = store.create_workspace("w")
    try:
        with (
            TestClient(build_app(settings, store=store)) as client,
            caplog.at_level(logging.INFO, "flokit.access"),
        ):
            client.post(
                "/v1/batch/events",
                json={"events": [event(), 1]},
                headers={
                    "Authorization": f"Bearer {issued.secret}",
                    "Content-Type": "application/json",
                },
            )
    finally:
        store.close()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "flokit.access"]
    assert len(lines) == 1
    line = lines[0]
    assert (line["status"], line["path"], line["accepted"], line["rejected"]) == (
        200,
        "/v1/batch/events",
        1,
        1,
    )
    assert line["request_id"].startswith("req_") and line["duration_ms"] >= 0


def test_unexpected_fault_is_a_json_500_with_the_request_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(db=str(tmp_path / "f.db"), log_requests=False)
    store = open_store(settings)
    _, issued = store.create_workspace("w")

    def broken_clock() -> float:
        raise RuntimeError("clock failure")

    try:
        with TestClient(build_app(settings, store=store, clock=broken_clock)) as client:
            response = client.post(
                "/v1/batch/events",
                json={"events": [event()]},
                headers={
                    "Authorization": f"Bearer {issued.secret}",
                    "Content-Type": "application/json",
                    "X-Request-Id": "r-500",
                },
            )
    finally:
        store.close()
    assert response.status_code == 500
    assert response.json() == {
        "error": "internal_error",
        "message": "Internal server error (request id r-500)",
    }
    assert any(
        "clock failure" in r.getMessage() for r in caplog.records if r.name == "flokit.error"
    )
