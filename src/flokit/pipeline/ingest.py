"""Validate → ids and duplicates → store, for the events of one request (single or batch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import msgspec

from flokit.integrations.records import DeliveryRecord
from flokit.model import IdempotencyClaim, Rejection, Rendered, StoredResponse, ValidEvent
from flokit.pipeline.ids import IdGenerator
from flokit.pipeline.validate import Validator
from flokit.store.contract import EventStore


@dataclass(slots=True)
class Outcome:
    """Exactly one outcome per event of the request: accepted (maybe duplicate) or rejected."""

    event_ids: list[str]  # accepted events in request order; a duplicate holds its original's id
    duplicates: int
    rejections: list[Rejection]


Respond = Callable[[Outcome], Rendered]


@dataclass(frozen=True, slots=True)
class Ingestor:
    """The ingest stages after the request was read, bound to one store and its settings."""

    store: EventStore
    validator: Validator
    ids: IdGenerator
    insert_id_retention_us: int

    def validate(
        self, raws: Sequence[msgspec.Raw | bytes], received_us: int
    ) -> tuple[list[ValidEvent], list[Rejection]]:
        """Every event checked on its own: the valid ones, and one rejection per other."""
        valid: list[ValidEvent] = []
        rejections: list[Rejection] = []
        check = self.validator.check
        for index, raw in enumerate(raws):
            result = check(raw, index, received_us)
            if type(result) is Rejection:
                rejections.append(result)
            else:
                valid.append(result)  # type: ignore[arg-type]
        return valid, rejections

    async def commit(
        self,
        workspace_id: int,
        valid: list[ValidEvent],
        rejections: list[Rejection],
        received_us: int,
        respond: Respond,
        claim: IdempotencyClaim | None,
        delivery: DeliveryRecord | None = None,
    ) -> tuple[Outcome | None, Rendered | StoredResponse]:
        """Give the valid events ids, store them durably with their response, and return both;
        or, if ``claim``'s key was answered meanwhile (another process), that kept response."""
        new_ids = self.ids.batch(len(valid), received_us // 1000) if valid else []
        outcomes: list[Outcome] = []

        def render(originals: list[str | None]) -> Rendered:
            event_ids = [old or new for old, new in zip(originals, new_ids, strict=True)]
            duplicates = len(originals) - originals.count(None)
            outcomes.append(Outcome(event_ids, duplicates, rejections))
            return respond(outcomes[-1])

        if not valid and claim is None and delivery is None:  # nothing to store or keep
            rendered = render([])
            return outcomes[-1], rendered
        appended = await self.store.append(
            workspace_id,
            valid,
            new_ids,
            received_us,
            self.insert_id_retention_us,
            render,
            claim,
            delivery,
        )
        if appended.replay is not None:
            return None, appended.replay
        assert appended.rendered is not None
        return outcomes[-1], appended.rendered
