"""Real ``flokit serve`` processes on 127.0.0.1 for end-to-end tests, stopped by their PID."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

FLOKIT = [sys.executable, "-m", "flokit"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli(db: Path | str, *args: str, json_output: bool = True) -> Any:
    """Run a ``flokit`` admin command; its parsed --json output, or its text."""
    flags = ["--db", str(db), *(["--json"] if json_output else [])]
    done = subprocess.run(
        [*FLOKIT, *args, *flags], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout) if json_output else done.stdout


class Server:
    """``flokit serve`` in its own process group; ``kill()`` is the kill -9 of a crash."""

    def __init__(
        self,
        db: Path | str,
        workers: int = 1,
        log: Path | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        """``db``: a SQLite file (the log goes beside it) or a PostgreSQL URL (give ``log``)."""
        self.db, self.port = db, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log or Path(db).with_suffix(f".{self.port}.log")
        env = {**os.environ, "FLOKIT_LOG_REQUESTS": "false", **(env or {})}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    *FLOKIT,
                    "serve",
                    "--db",
                    str(db),
                    "--port",
                    str(self.port),
                    "--workers",
                    str(workers),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready in {timeout_s}s: {self.log.read_text()}")

    def output(self) -> str:
        return self.log.read_text()

    def kill(self) -> None:
        """SIGKILL the whole process group (the server and any workers): a crash. Returns once
        nothing accepts connections on the port any more, so that a new server may take it."""
        self._signal(signal.SIGKILL)
        self._wait_port_closed()

    def _wait_port_closed(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
            except OSError:
                return
            time.sleep(0.02)  # a killed worker still holds the listening socket: poll again
        raise RuntimeError(f"port {self.port} still accepts connections {timeout_s}s after kill")

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)
