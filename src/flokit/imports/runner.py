"""The import runner: one background thread per server process that claims and runs jobs.

Jobs are claimed in the database, so with several workers each job runs once; a job whose
process died (no heartbeat for ``stale_s``) is claimed again and resumes. While idle, the
runner tidies up now and then (every ``tidy_s``): files of jobs that ended on another node.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from flokit.errors import FloKitError
from flokit.model import ImportRecord
from flokit.store.contract import ImportStore

log = logging.getLogger("flokit.imports")


class ImportRunner:
    """Runs import jobs one at a time, off the request path."""

    def __init__(
        self,
        store: ImportStore,
        run_job: Callable[[ImportRecord, threading.Event], None],
        clock: Callable[[], float],
        *,
        stale_s: float,
        poll_s: float = 1.0,
        tidy: Callable[[], object] | None = None,
        tidy_s: float = 60.0,
    ) -> None:
        self.store, self.run_job, self.clock = store, run_job, clock
        self.stale_s, self.poll_s = stale_s, poll_s
        self.tidy, self.tidy_s = tidy, tidy_s
        self._tidied = -float("inf")  # time.monotonic() of the last tidy-up: none yet
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flokit-imports", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """A job was queued: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop: the running job stops at its next slice (within seconds) and is handed back
        to the queue, to resume on the next start or on another node."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                record = self._claim()
            except FloKitError as exc:  # the store is closing or unreachable: try again later
                log.warning("claiming an import failed: %s", exc)
                record = None
            except Exception:
                log.exception("claiming an import failed")
                record = None
            if record is None:
                self._tidy_now_and_then()
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            log.info("import %s: running (phase %s)", record.id, record.phase)
            try:
                self.run_job(record, self._stop)
            except Exception:  # even its end could not be recorded: it resumes once stale
                log.exception("import %s stopped without recording its end", record.id)

    def _tidy_now_and_then(self) -> None:
        if self.tidy is None or time.monotonic() - self._tidied < self.tidy_s:
            return
        self._tidied = time.monotonic()
        try:
            self.tidy()
        except Exception:  # the store is closing or unreachable: next time
            log.exception("tidying import files failed")

    def _claim(self) -> ImportRecord | None:
        now = self.clock()
        now_us, stale_us = int(now * 1e6), int((now - self.stale_s) * 1e6)
        if not self.store.has_claimable_import(stale_us):  # a cheap read before any write
            return None
        return self.store.claim_import(now_us, stale_us)
