"""Per-event results of a send: nothing rejected goes unnoticed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class EventError:
    """One rejected event: where it was in your list, your own event, and why."""

    index: int
    event: dict[str, Any]
    reason: str
    code: str | None
    field: str | None


@dataclass(slots=True)
class BatchResult:
    """The outcome of ``send_batch`` (of every chunk it took), in your events' order."""

    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    event_ids: list[str] = field(default_factory=list)
    errors: list[EventError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every event was accepted."""
        return self.rejected == 0

    def add(self, body: dict[str, Any], events: list[dict[str, Any]], offset: int) -> None:
        """Fold one chunk's response in (``offset``: where the chunk starts in your list)."""
        self.accepted += int(body.get("accepted", 0))
        self.rejected += int(body.get("rejected", 0))
        self.duplicates += int(body.get("duplicates", 0))
        self.event_ids.extend(body.get("event_ids", []))
        for error in body.get("errors", []):
            index = int(error["index"])
            self.errors.append(
                EventError(
                    offset + index,
                    events[index],
                    error.get("reason", ""),
                    error.get("code"),
                    error.get("field"),
                )
            )
