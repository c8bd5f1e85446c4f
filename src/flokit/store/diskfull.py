"""A full disk, recognised and remembered: every write that cannot be stored for want of space
is a 503 ``StorageFull`` (never a 500), and ``/readyz`` says "disk full" until space is back.

SQLite reports ``SQLITE_FULL`` ("database or disk is full"), files written directly (import
uploads and working files) ``ENOSPC``, PostgreSQL SQLSTATE 53100 (``disk_full``).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flokit.errors import StorageFull

#: Free space that must come back (beyond what was free when a write failed) before a SQLite
#: store calls itself ready again without a write having succeeded.
FREED_BYTES = 1024 * 1024
_OUT_OF_SPACE = {errno.ENOSPC, errno.EDQUOT}


def sqlite_disk_full(exc: BaseException) -> bool:
    """Whether SQLite failed for want of space (``SQLITE_FULL``, any extended code)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF == sqlite3.SQLITE_FULL
    )


def out_of_space(exc: BaseException) -> bool:
    """Whether a file write failed for want of space (or of quota)."""
    return isinstance(exc, OSError) and exc.errno in _OUT_OF_SPACE


def storage_full(what: str, detail: object) -> StorageFull:
    """The 503 of a write that found the disk full (``detail``: the error, one line)."""
    return StorageFull(
        f"{what}: the disk is full ({detail}); nothing was stored. Retry once space is freed."
    )


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged writer may still use on ``directory``'s file system."""
    stats = os.statvfs(directory)
    return stats.f_bavail * stats.f_frsize


class DiskFullWatch:
    """Remembers that writes failed for a full disk, for ``/readyz``. It forgets when a write
    succeeds, or, with a ``directory`` to look at, when ``FREED_BYTES`` came back there; without
    one (PostgreSQL's disk is not ours to see), ``hold_s`` after the last failure, so traffic
    comes back to try. Never forgetting would keep a node out of service: a load balancer sends
    an unready node no writes, and no write could then succeed."""

    def __init__(
        self,
        name: str,
        directory: Path | None = None,
        *,
        hold_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.directory, self.hold_s, self.clock = name, directory, hold_s, clock
        self._lock = threading.Lock()
        self._failed: tuple[float, int, str] | None = None  # when, free bytes then, error

    def failed(self, exc: BaseException) -> None:
        free = self._free()
        error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        with self._lock:
            self._failed = (self.clock(), free, error)

    def succeeded(self) -> None:
        self._failed = None  # one assignment: cheap enough for every commit

    def reason(self) -> str | None:
        """Says "disk full" and what failed while it holds; None once space is back."""
        with self._lock:
            failed = self._failed
            if failed is None:
                return None
            when, free_then, error = failed
            free_now = self._free()
            if self.directory is not None and free_now >= free_then + FREED_BYTES:
                self._failed = None
                return None
            if self.directory is None and self.clock() - when >= self.hold_s:
                self._failed = None
                return None
        where = f" ({self.directory}: {free_now} bytes free)" if self.directory else ""
        return f"{self.name}: disk full{where}: writes fail ({error}) until space is freed"

    def _free(self) -> int:
        if self.directory is None:
            return 0
        try:
            return free_bytes(self.directory)
        except OSError:
            return 0
