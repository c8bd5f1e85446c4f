"""Duplicate detection (contract §5), the rule itself: which keys an event has, and which
events of a sequence repeat one seen before. Stores apply it inside their transaction; an
import's dry run applies it to what the store already holds, without storing anything."""

from __future__ import annotations

from collections.abc import Sequence

from flokit.model import ValidEvent

Keys = tuple[str | None, str | None]


def duplicate_keys(event: ValidEvent) -> Keys:
    """The event's duplicate keys: (revenue ``transaction_id`` key, ``insert_id`` key). The
    transaction key names the event, so a refund may share its purchase's transaction id."""
    txn = f"t:{event.event}\x1f{event.transaction_id}" if event.transaction_id is not None else None
    ins = f"i:{event.insert_id}" if event.insert_id is not None else None
    return txn, ins


def originals(ids: Sequence[str], keys: Sequence[Keys], seen: dict[str, str]) -> list[str | None]:
    """Per event, the id of the event it repeats (one in ``seen``, or earlier in the sequence,
    which is added to ``seen``), or ``None`` for a new event."""
    found: list[str | None] = []
    for event_id, (txn, ins) in zip(ids, keys, strict=True):
        original = (txn and seen.get(txn)) or (ins and seen.get(ins)) or None
        found.append(original)
        if original is None:
            seen.update((key, event_id) for key in (txn, ins) if key is not None)
    return found
