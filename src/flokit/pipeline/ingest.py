"""Validate → ids and duplicates → store, for the events of one request (single or batch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from flokit.model import Rejection, ValidEvent
from flokit.pipeline.ids import IdGenerator
from flokit.pipeline.validate import Validator
from flokit.store import Store


@dataclass(slots=True)
class Outcome:
    """Exactly one outcome per event of the request: accepted (maybe duplicate) or rejected."""

    event_ids: list[str]  # accepted events in request order; a duplicate holds its original's id
    duplicates: int
    rejections: list[Rejection]


@dataclass(frozen=True, slots=True)
class Ingestor:
    """The ingest stages after the request was read, bound to one store and its settings."""

    store: Store
    validator: Validator
    ids: IdGenerator
    insert_id_retention_us: int

    async def ingest(
        self, workspace_id: int, raws: Sequence[msgspec.Raw | bytes], received_us: int
    ) -> Outcome:
        """Validate every event, store the valid ones durably, and account for each."""
        valid: list[ValidEvent] = []
        rejections: list[Rejection] = []
        check = self.validator.check
        for index, raw in enumerate(raws):
            result = check(raw, index, received_us)
            if type(result) is Rejection:
                rejections.append(result)
            else:
                valid.append(result)  # type: ignore[arg-type]
        if not valid:
            return Outcome([], 0, rejections)
        new_ids = self.ids.batch(len(valid), received_us // 1000)
        originals = await self.store.append(
            workspace_id, valid, new_ids, received_us, self.insert_id_retention_us
        )
        event_ids = [original or new for original, new in zip(originals, new_ids, strict=True)]
        duplicates = len(originals) - originals.count(None)
        return Outcome(event_ids, duplicates, rejections)
