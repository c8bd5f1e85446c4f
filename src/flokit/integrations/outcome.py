"""What a provider's mapper returns for one delivery: canonical events to ingest, or drops.

Mappers are pure: they read the provider's payload (and, for Stripe, a little per-integration
memory) and say what the delivery means. Ingesting, counting and answering are the receiver's.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

import msgspec


class ProviderType(StrEnum):
    """An integration's type: the provider it receives from."""

    REVENUECAT = "revenuecat"
    ADAPTY = "adapty"
    STRIPE = "stripe"
    ADJUST = "adjust"


class DropReason(StrEnum):
    """Why a delivery (or one event of it) stored nothing; counted per integration."""

    SANDBOX = "sandbox"  # sandbox or test-mode traffic, kept only with --keep-sandbox
    TEST_EVENT = "test_event"  # RevenueCat's TEST
    UNKNOWN_TYPE = "unknown_type"  # a type the mapping does not know (providers add types)
    NOT_MAPPED = "not_mapped"  # a known type that maps to nothing (zero amount, failed payment…)
    UNMAPPED_TOKEN = "unmapped_token"  # Adjust: an event token without a mapping
    MISSING_FIELD = "missing_field"  # a field the mapping needs is absent or of the wrong type
    BAD_TIMESTAMP = "bad_timestamp"  # missing, unparseable, or in the wrong unit
    INVALID = "invalid"  # the mapped event failed the Events API's validation
    ALREADY_CANCELLED = "already_cancelled"  # Stripe: one cancellation per subscription


class CanonicalEvent(msgspec.Struct, omit_defaults=True, frozen=True):
    """One event in the Events API's shape (batch-events.md), ``insert_id`` =
    ``<type>:<provider event id>[:<n>]`` so a redelivery is a duplicate."""

    event: str
    timestamp: str  # ISO 8601, UTC, "Z"
    insert_id: str
    user_id: str | None = None
    anonymous_id: str | None = None
    properties: dict[str, Any] = {}

    def encode(self) -> bytes:
        """The JSON the ingest pipeline validates, exactly as a client would send it."""
        return msgspec.json.encode(self)


class Dropped(msgspec.Struct, frozen=True):
    """A delivery, or one event of it, that maps to nothing, and why (said in the answer)."""

    reason: DropReason
    detail: str


Mapped = CanonicalEvent | Dropped


class Memory(Protocol):
    """Per-integration facts a mapper must remember between deliveries (Stripe: which
    subscriptions were trialing, which were cancelled). Kept by the store, for every backend."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...
