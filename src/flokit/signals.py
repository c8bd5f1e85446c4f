"""Shutdown signals and the processes the server starts.

A Ctrl-C or a stop sent to the server's process group (a terminal, systemd, a container runtime)
reaches every process in the group, children still importing their modules included (seconds on
a busy machine), which would die of it with a traceback. So children are started with the
signals held (``held``): one that comes before a child is ready waits in its mask until the
child has set up its own handling and lets them in (``let_in``).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

SHUTDOWN_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """``SHUTDOWN_SIGNALS`` held back in this thread; processes started meanwhile are born with
    them held. Another thread (the server's main thread) still gets them; in this one, one that
    came meanwhile is delivered on the way out."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, SHUTDOWN_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def let_in() -> None:
    """This process handles ``SHUTDOWN_SIGNALS`` now: deliver them, one held since it was born
    included (a no-op in a process started without ``held``)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SHUTDOWN_SIGNALS)
