"""A projection built bit by bit, in any batch sizes and across crashes, equals one rebuilt
from the log in one go, and both follow the identity rules (checked against a plain oracle)."""

from __future__ import annotations

import random
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from readmodels import dump_read_models, project_all
from starlette.testclient import TestClient

from flokit.app import build_app
from flokit.projections.identity import project
from flokit.settings import Settings
from flokit.store import Store, open_store

from conftest import server_env, settings_for
from server import Server, cli

ANONS = ["a1", "a2", "a3", "undefined"]
USERS = ["u1", "u2", "u3", None]
NAMES = ["screen_viewed", "install_attributed", "trial_started"]


def random_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Events over a few ids, timestamps in any order, so links move and conflicts arise."""
    events = []
    for _ in range(count):
        name, anon, user = rng.choice(NAMES), rng.choice(ANONS), rng.choice(USERS)
        if name == "trial_started" and user is None:
            user = "u1"
        props = {"campaign_id": "c", "channel": "meta"} if name == "install_attributed" else {}
        props = {"plan_id": "p"} if name == "trial_started" else props
        day = rng.randrange(1, 28)
        events.append(
            {
                "event": name,
                "anonymous_id": anon,
                "timestamp": f"2024-03-{day:02d}T00:00:00Z",
                "properties": props,
                **({"user_id": user} if user else {}),
            }
        )
    return events


def oracle_links(stored: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Each real anonymous id's first user by (timestamp, receipt), computed the plain way."""
    first: dict[str, tuple[str, int, str]] = {}
    for order, e in enumerate(stored):
        anon, user = e["anonymous_id"], e.get("user_id")
        if user is None or anon == "undefined":
            continue
        if anon not in first or (e["timestamp"], order) < first[anon][:2]:
            first[anon] = (e["timestamp"], order, user)
    return {(anon, user) for anon, (_, _, user) in first.items()}


def feed(
    client: TestClient, key: str, store: Store, events: list[dict[str, Any]], rng: random.Random
) -> None:
    """Send the events in random batches, projecting in random batch sizes between them."""
    headers = {"Authorization": f"Bearer {key}"}
    at = 0
    while at < len(events):
        size = rng.randrange(1, 40)
        answer = client.post(
            "/v1/batch/events", json={"events": events[at : at + size]}, headers=headers
        )
        assert answer.status_code == 200 and answer.json()["rejected"] == 0, answer.text
        at += size
        while store.project_next(rng.randrange(1, 30), project):
            pass


def built_both_ways(
    settings: Settings, store: Store, events: list[dict[str, Any]], seed: int
) -> tuple[Any, Any]:
    _, issued = store.create_workspace("w")
    with TestClient(build_app(settings, store=store)) as client:
        feed(client, issued.secret, store, events, random.Random(seed))
    project_all(store)
    incremental = dump_read_models(settings)
    store.reset_read_models()
    project_all(store)
    return incremental, dump_read_models(settings)


def test_incremental_equals_rebuilt_and_follows_the_rules(
    backend: str, request: pytest.FixtureRequest
) -> None:
    settings = settings_for(backend, request, projector=False)
    events = random_events(random.Random(7), 400)
    store = open_store(settings)
    try:
        incremental, rebuilt = built_both_ways(settings, store, events, seed=11)
    finally:
        store.close()
    assert incremental == rebuilt
    links = {(row[1], row[2]) for row in rebuilt["identity_links"]}
    assert links == oracle_links(events)
    people_events = sum(row[6] for row in rebuilt["people"])
    owned = [e for e in events if e.get("user_id") or e["anonymous_id"] != "undefined"]
    assert people_events == len(owned)


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 10**6), count=st.integers(1, 120))
def test_any_arrival_and_batching_gives_the_same_projection(
    tmp_path_factory: pytest.TempPathFactory, seed: int, count: int
) -> None:
    folder = tmp_path_factory.mktemp("p")
    settings = Settings(db=str(folder / "flokit.db"), log_requests=False, projector=False)
    events = random_events(random.Random(seed), count)
    store = open_store(settings)
    try:
        incremental, rebuilt = built_both_ways(settings, store, events, seed)
    finally:
        store.close()
    assert incremental == rebuilt
    assert {(row[1], row[2]) for row in rebuilt["identity_links"]} == oracle_links(events)


def position(server: Server) -> tuple[int, int]:
    """(as_of, events behind) from /metrics."""
    text = httpx.get(f"{server.url}/metrics", timeout=5).text
    values = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("flokit_projection_")
    }
    return int(values["flokit_projection_position"]), int(values["flokit_projection_lag_events"])


def test_a_projector_killed_mid_batch_resumes_to_the_same_projection(
    backend: str, request: pytest.FixtureRequest, tmp_path: Any
) -> None:
    settings = settings_for(backend, request)
    key = cli(settings.db, "workspaces", "create", "w")["api_key"]
    env = {**server_env(settings), "FLOKIT_PROJECTOR": "false"}
    events = random_events(random.Random(3), 12_000)
    writer = Server(settings.db, log=tmp_path / "ingest.log", env=env)
    try:
        for start in range(0, len(events), 500):
            answer = httpx.post(
                f"{writer.url}/v1/batch/events",
                json={"events": events[start : start + 500]},
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            assert answer.status_code == 200
    finally:
        writer.stop()
    env = {**server_env(settings), "FLOKIT_PROJECTOR_BATCH": "10"}
    last, kills = 0, 0
    # Each round waits to see the projector commit a batch (an observed count, not a delay),
    # then kills it with SIGKILL: 1,200 batches of 10 leave it mid-way, inside a transaction.
    for attempt in range(200):
        server = Server(settings.db, log=tmp_path / f"p{attempt}.log", env=env)
        try:
            for _ in range(2000):
                as_of, behind = position(server)
                if as_of > last or behind == 0:
                    break
                time.sleep(0.01)
            if behind == 0:
                break
            last = as_of
            kills += 1
        finally:
            server.kill() if behind else server.stop()
        if kills == 3:
            break
    final = Server(settings.db, log=tmp_path / "final.log", env=env)
    try:
        for _ in range(10_000):
            if position(final)[1] == 0:
                break
            time.sleep(0.05)
        assert position(final)[1] == 0
    finally:
        final.stop()
    assert kills == 3, "the projector caught up before it could be killed three times"
    resumed = dump_read_models(settings)
    cli(settings.db, "projections", "rebuild", json_output=False)
    assert dump_read_models(settings) == resumed
    assert resumed["as_of"][0][0] == len(events)
