"""``flokit serve`` runs the projector as a child process that lives and dies with it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from server import Server, cli


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_the_projector_process_projects_and_ends_with_its_server(tmp_path: Path) -> None:
    db = tmp_path / "f.db"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    server = Server(db)
    try:
        projector = [
            c
            for c in children(server.proc.pid)
            if b"projections\x00follow" in Path(f"/proc/{c}/cmdline").read_bytes()
        ]
        assert len(projector) == 1
        event = {"event": "screen_viewed", "user_id": "u1", "timestamp": "2024-03-01T00:00:00Z"}
        headers = {"Authorization": f"Bearer {key}"}
        httpx.post(f"{server.url}/v1/batch/events", json={"events": [event]}, headers=headers)
        for _ in range(200):  # the child projects: the API sees the user
            if httpx.get(f"{server.url}/v1/users/u1", headers=headers).status_code == 200:
                break
            time.sleep(0.05)
        assert httpx.get(f"{server.url}/v1/users/u1", headers=headers).json()["event_count"] == 1
        os.kill(server.proc.pid, signal.SIGKILL)  # the server alone dies, as in an OOM kill
        server.proc.wait(timeout=20)
        for _ in range(100):
            if not running(projector[0]):
                break
            time.sleep(0.1)
        assert not running(projector[0]), "the projector outlived its server"
    finally:
        server.kill()
