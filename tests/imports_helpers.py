"""Helpers for import tests: CSV text, upload, and a bounded wait for the job's end."""

from __future__ import annotations

import time
from typing import Any

HEADER = (
    "event,timestamp,user_id,anonymous_id,insert_id,properties,properties.paywall_id,"
    "properties.plan_id,properties.revenue,properties.currency,properties.transaction_id"
)


def csv_rows(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def wait_done(get: Any, import_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll ``get(path)`` until the import completes or fails (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job: dict[str, Any] = get(f"/v1/imports/{import_id}").json()
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"import {import_id} did not finish in {timeout_s} s")
