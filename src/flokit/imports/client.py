"""The client side of ``flokit import``: upload with a progress bar, follow the job, summarise."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

CHUNK = 1 << 20
POLL_S = 0.5
POLL_HZ = 1 / POLL_S  # the bar changes only when a poll answers


class ImportFailed(Exception):
    """The server refused the upload or the import ended ``failed``."""


@dataclass
class ImportClient:
    """One keep-alive connection for the upload, the polls and the errors file: a new
    connection per poll cost ~30 ms of CPU each, taken from the server on a small machine."""

    url: str
    key: str
    console: Console
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )

    def __enter__(self) -> ImportClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def upload(self, path: Path, dry_run: bool) -> dict[str, Any]:
        """Send the file as ``text/csv`` with a bar of bytes sent; the new import."""
        headers = {"Content-Type": "text/csv"}
        if path.suffix == ".gz":
            headers["Content-Encoding"] = "gzip"
        size = path.stat().st_size
        columns = (TextColumn("Uploading"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task("upload", total=size)
            response = self.http.post(
                "/v1/imports",
                params={"dry_run": "true"} if dry_run else None,
                content=_read(path, bar, task),
                headers={**headers, "Content-Length": str(size)},
                timeout=None,
            )
        body: dict[str, Any] = _json(response)
        if response.status_code not in (200, 202):
            raise ImportFailed(f"upload refused ({response.status_code}): {body.get('message')}")
        return body

    def follow(self, job: dict[str, Any]) -> dict[str, Any]:
        """Poll the import with a bar of server-side progress until it ends."""
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, refresh_per_second=POLL_HZ) as bar:
            task = bar.add_task("Validating rows", total=None, count="")
            while job["status"] not in ("completed", "failed"):
                time.sleep(POLL_S)
                job = _json(self.http.get(f"/v1/imports/{job['import_id']}"))
                _show(bar, task, job)
        return job

    def download_errors(self, job: dict[str, Any], path: Path) -> Path:
        """Save every rejected row next to the imported file."""
        target = path.with_name(path.name.removesuffix(".gz") + ".errors.csv")
        with (
            self.http.stream("GET", job["errors_url"], timeout=None) as response,
            target.open("wb") as out,
        ):
            for chunk in response.iter_bytes():
                out.write(chunk)
        return target


def _read(path: Path, bar: Progress, task: TaskID) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            bar.advance(task, len(chunk))
            yield chunk


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:200]}
    return body if isinstance(body, dict) else {"message": str(body)}


def _show(bar: Progress, task: TaskID, job: dict[str, Any]) -> None:
    if job["phase"] == "validate":
        done = job["rows_processed"]
        bar.update(task, description="Validating rows", completed=done, count=f"{done:,} rows")
    else:
        to_store = max(0, (job["rows_total"] or 0) - job["rejected"])
        stored = job["accepted"] if not job["dry_run"] else to_store
        count = f"{stored:,}/{to_store:,} events"
        bar.update(task, description="Storing", completed=stored, total=to_store or 1, count=count)


def summary(job: dict[str, Any], seconds: float) -> Table:
    """The closing table: accepted, rejected, duplicates, time and rate."""
    rows = job["rows_total"] or 0
    table = Table(title=f"Import {job['import_id']}: {job['status']}")
    for name in ("accepted", "rejected", "duplicates"):
        table.add_column(name, justify="right")
    table.add_column("time", justify="right")
    table.add_column("rows/s", justify="right")
    table.add_row(
        f"{job['accepted']:,}",
        f"{job['rejected']:,}",
        f"{job['duplicates']:,}",
        f"{seconds:.1f} s",
        f"{rows / seconds:,.0f}" if seconds > 0 else "-",
    )
    return table
