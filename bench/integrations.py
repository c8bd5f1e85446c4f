"""Integration deliveries against POST /v1/events (issue 13), side by side in one run.

RevenueCat sends one event a request, so each delivery is one request of one event. The same
events go to ``POST /v1/events`` (as the canonical events the mapper makes of them) and to the
RevenueCat receiver, over HTTP, 8 keep-alive connections, one server process; runs alternate.
Target: deliveries stored/s >= 0.8 x the ``POST /v1/events`` rate.

Run: ``make bench`` (or ``.venv/bin/python bench/integrations.py [--events N] [--rounds N]``).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from client import post_all

from flokit.integrations import admin
from flokit.integrations.outcome import CanonicalEvent, ProviderType
from flokit.integrations.registry import IntegrationSettings, MapContext
from flokit.integrations.revenuecat import map_delivery
from flokit.settings import Settings
from flokit.store import open_store

from common import HERE, OUT, UNTHROTTLED, fresh_db
from server import Server

FIXTURE = HERE.parent / "tests" / "fixtures" / "integrations" / "revenuecat" / "renewal.json"
RC_PATH = "/v1/integrations/revenuecat/webhook"


def deliveries(run: int, count: int) -> list[dict[str, Any]]:
    """``count`` RevenueCat renewals, each its own event id and transaction."""
    base = json.loads(FIXTURE.read_text())
    out = []
    for n in range(count):
        payload = copy.deepcopy(base)
        payload["event"]["id"] = f"bench-{run}-{n}"
        payload["event"]["transaction_id"] = f"txn-{run}-{n}"
        payload["event"]["app_user_id"] = f"usr_{n % 997}"
        out.append(payload)
    return out


class _NoMemory:
    def get(self, key: str) -> str | None:
        return None

    def put(self, key: str, value: str) -> None:
        raise AssertionError("RevenueCat remembers nothing")


def canonical(payload: dict[str, Any]) -> bytes:
    """The event ``POST /v1/events`` gets for a delivery: what the mapper makes of it."""
    ctx = MapContext(False, _NoMemory(), time.time(), IntegrationSettings())
    (event,) = map_delivery(payload, ctx)
    assert isinstance(event, CanonicalEvent)
    return event.encode()


def setup(postgres: str | None) -> tuple[str, str, str]:
    """A fresh database (SQLite in bench/out, or a new PostgreSQL database beside
    ``postgres``) with a workspace and a RevenueCat integration: the db, key, secret."""
    if postgres is None:
        path, _ = fresh_db("integrations-run.db")
        db = str(path)
    else:
        db = _fresh_postgres(postgres)
    store = open_store(Settings(db=db))
    workspace, issued = store.create_workspace("integrations")
    asked = admin.NewIntegration(ProviderType.REVENUECAT)
    _, secret = asyncio.run(admin.create(store, workspace.id, workspace.public_id, asked))
    store.close()
    assert secret is not None
    return db, issued.secret, secret


PG_NAME = "flokit_bench_integrations"


def _fresh_postgres(admin_url: str) -> str:
    """An empty database for this run, on the server of ``admin_url``."""
    import psycopg

    _drop_postgres(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{PG_NAME}"'.encode())
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{PG_NAME}"))


def _drop_postgres(admin_url: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)'.encode())


def drive(url: str, path: str, auth: str, bodies: list[bytes], connections: int) -> dict[str, Any]:
    """Post every body once over ``connections`` keep-alive connections (a client process)."""
    spec = {"url": url, "path": path, "auth": auth, "connections": connections}
    done = subprocess.run(
        [sys.executable, __file__, "--client", json.dumps(spec)],
        input=b"\n".join(bodies),
        capture_output=True,
        check=True,
        cwd=HERE,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def client(spec: dict[str, Any]) -> None:
    """The load generator: bodies on standard input, one per line; JSON stats on output."""
    bodies = sys.stdin.buffer.read().split(b"\n")
    headers = {"Authorization": spec["auth"], "Content-Type": "application/json"}
    answers, wall = post_all([spec["url"]], spec["path"], headers, bodies, spec["connections"])
    stored = sum(
        got.get("accepted", 1 if "event_id" in got else 0) - got.get("duplicates", 0)
        for _, _, got in answers
    )
    latencies = sorted(elapsed for elapsed, _, _ in answers)
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "stored": stored,
                "statuses": sorted({status for _, status, _ in answers}),
                "per_s": stored / wall,
                "p50_ms": latencies[len(latencies) // 2] * 1000,
                "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=3000, help="single-event requests a run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, alternated")
    parser.add_argument("--postgres", help="a PostgreSQL admin URL: run on a new database there")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    db, key, secret = setup(args.postgres)
    print(f"backend: {'postgresql' if args.postgres else 'sqlite'}", flush=True)
    server = Server(db, log=OUT / "integrations-run.serve.log", env=UNTHROTTLED)
    runs: dict[str, list[dict[str, Any]]] = {"events": [], "revenuecat": []}
    try:
        for round_ in range(args.rounds):
            payloads = deliveries(round_, args.events)
            as_events = [canonical(p) for p in payloads]
            as_deliveries = [json.dumps(p).encode() for p in payloads]
            # Different transactions per kind, so neither run meets the other's duplicates.
            as_events = [b.replace(b"txn-", b"evt-txn-") for b in as_events]
            as_events = [b.replace(b'"revenuecat:', b'"events:') for b in as_events]
            runs["events"].append(drive(server.url, "/v1/events", f"Bearer {key}", as_events, 8))
            runs["revenuecat"].append(drive(server.url, RC_PATH, secret, as_deliveries, 8))
            for name in runs:
                run = runs[name][-1]
                print(
                    f"round {round_ + 1} {name:<10}: {run['per_s']:,.0f} stored/s, p50"
                    f" {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms, statuses"
                    f" {run['statuses']}, {run['stored']:,} stored",
                    flush=True,
                )
    finally:
        server.stop()
        if args.postgres:
            _drop_postgres(args.postgres)
    medians = {
        name: {k: statistics.median(r[k] for r in rs) for k in ("per_s", "p50_ms", "p99_ms")}
        for name, rs in runs.items()
    }
    for name, m in medians.items():
        print(
            f"median {name:<10}: {m['per_s']:,.0f} stored/s, p50 {m['p50_ms']:.1f} ms,"
            f" p99 {m['p99_ms']:.1f} ms"
        )
    ratio = medians["revenuecat"]["per_s"] / medians["events"]["per_s"]
    print(f"deliveries / POST /v1/events: {ratio:.2f} (target >= 0.8)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        client(json.loads(sys.argv[2]))
    else:
        main()
