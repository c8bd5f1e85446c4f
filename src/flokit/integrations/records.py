"""Integrations as the store keeps them, and what one delivery changes in its record."""

from __future__ import annotations

from dataclasses import dataclass, field

from flokit.integrations.outcome import ProviderType
from flokit.integrations.registry import IntegrationSettings, StoredSecret

#: Delivery errors kept per integration (the newest), for ``GET /v1/integrations/{id}``.
KEPT_ERRORS = 20


@dataclass(frozen=True, slots=True)
class Integration:
    """One workspace's connection to one provider."""

    id: str
    workspace_id: int
    workspace_public_id: str
    type: ProviderType
    keep_sandbox: bool
    settings: IntegrationSettings
    secret: StoredSecret
    created_us: int


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """What an answered (200) delivery changes in its integration's record: committed in the
    transaction of its events, so counts, memory and events never disagree."""

    integration_id: str
    received_us: int
    dropped: dict[str, int] = field(default_factory=dict)  # by DropReason
    errors: list[str] = field(default_factory=list)  # drops worth showing as delivery errors
    memory: dict[str, str] = field(default_factory=dict)  # the mapper's Memory.put calls


@dataclass(frozen=True, slots=True)
class DeliveryError:
    """A delivery refused after authentication (its status), or an event of one dropped as
    malformed (status 200)."""

    at_us: int
    status: int
    message: str


@dataclass(frozen=True, slots=True)
class IntegrationStats:
    """The counters behind ``status`` and ``sync_stats`` (integrations.md §1)."""

    events_total: int
    events_last_24h: int
    earliest_event_us: int | None
    last_synced_us: int | None  # the last delivery answered 200
    last_status: int | None  # of the last delivery (None: none yet)
    last_error: str | None
    dropped: dict[str, int]
    errors: list[DeliveryError]
