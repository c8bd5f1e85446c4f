"""evt_ ids (contract §5): ``evt_`` + 10 Crockford base32 chars of the receipt millisecond
+ 10 chars of a 50-bit counter that starts at a random value per batch and grows by one per event.

A batch's ids cost one clock read and one ``os.urandom``; within a process ids never go
backwards, so they sort by receipt.
"""

from __future__ import annotations

import os
import threading

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
#: Every 10-bit value as its two base32 characters: an id is five table look-ups.
_PAIRS = [_ALPHABET[i >> 5] + _ALPHABET[i & 31] for i in range(1024)]
_BITS = 50
_MASK = (1 << _BITS) - 1
ID_PATTERN = r"evt_[0-9a-hjkmnp-tv-z]{20}"


def _encode50(value: int) -> str:
    p = _PAIRS
    return (
        p[(value >> 40) & 1023]
        + p[(value >> 30) & 1023]
        + p[(value >> 20) & 1023]
        + p[(value >> 10) & 1023]
        + p[value & 1023]
    )


class IdGenerator:
    """Monotonic evt_ id source for one process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._next = 0

    def batch(self, count: int, now_ms: int) -> list[str]:
        """``count`` ids for events received at ``now_ms``, increasing and unique."""
        with self._lock:
            start, ms = self._reserve(count, now_ms)
        prefix = "evt_" + _encode50(ms)
        ids: list[str] = []
        value, end = start, start + count
        while value < end:  # per run of 1,024 counter values only the last pair changes
            run_end = min(end, (value | 1023) + 1)
            head = prefix + _encode50(value)[:8]
            ids += [head + pair for pair in _PAIRS[value & 1023 : (run_end - 1 & 1023) + 1]]
            value = run_end
        return ids

    def _reserve(self, count: int, now_ms: int) -> tuple[int, int]:
        ms = max(now_ms, self._last_ms)
        if ms == self._last_ms and self._next + count <= _MASK:
            start = self._next  # same millisecond: continue the counter so ids keep growing
        else:
            if ms == self._last_ms:
                ms += 1  # counter exhausted within this millisecond: borrow the next one
            start = int.from_bytes(os.urandom(7), "big") & (_MASK >> 1)  # room to count up
        self._last_ms, self._next = ms, start + count
        return start, ms
