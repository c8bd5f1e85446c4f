"""The bounded in-memory queue of ``track()``, with an explicit overflow policy."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Literal

Overflow = Literal["block", "drop"]
OnDrop = Callable[[dict[str, Any]], None]


class Backlog:
    """Events waiting to be sent. Not thread-safe by itself: callers hold their own lock."""

    def __init__(self, max_size: int, overflow: Overflow, on_drop: OnDrop | None) -> None:
        if overflow not in ("block", "drop"):
            raise ValueError("overflow must be 'block' or 'drop'")
        self.max_size, self.overflow, self.on_drop = max_size, overflow, on_drop
        self.events: deque[dict[str, Any]] = deque()
        self.dropped = 0

    def full(self) -> bool:
        return len(self.events) >= self.max_size

    def drop(self, event: dict[str, Any]) -> None:
        """The ``drop`` policy: count it and tell the caller, never silently."""
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop(event)

    def take(self, count: int) -> list[dict[str, Any]]:
        return [self.events.popleft() for _ in range(min(count, len(self.events)))]
