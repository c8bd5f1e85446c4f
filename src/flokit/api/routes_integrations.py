"""The route table's integration endpoints: managing integrations, and one receiver per provider
of the registry (integrations.md). The structs describe the answers ``integrations/admin.py``
and ``api/integrations.py`` build."""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from flokit.api import integrations, integrations_admin
from flokit.api.bodies import DateTime
from flokit.api.table import JSON, Access, Endpoint, Header, json_reply
from flokit.errors import InvalidJson, InvalidRequest, NotFound, PayloadTooLarge, Unauthorized
from flokit.integrations.admin import IntegrationStatus, NewIntegration, NewSigningSecret
from flokit.integrations.outcome import DropReason, ProviderType
from flokit.integrations.registry import Provider, providers
from flokit.settings import Settings


class SyncStats(msgspec.Struct):
    events_last_24h: int
    events_total: int
    earliest_event_at: DateTime | None


class DeliveryFailure(msgspec.Struct):
    at: DateTime
    status: int
    message: str


class IntegrationBody(msgspec.Struct):
    """An integration: FloKit's documented fields, drops by reason and the last errors."""

    id: str
    type: ProviderType
    status: IntegrationStatus
    last_synced_at: DateTime | None
    error_message: str | None
    sync_stats: SyncStats
    dropped: dict[str, int]
    errors: list[DeliveryFailure]
    workspace_id: str
    created_at: DateTime
    keep_sandbox: bool
    settings: dict[str, Any]
    url: str | None  # what to configure at the provider
    secret: str | UnsetType = UNSET  # the generated secret: only in the 201 of a create


class IntegrationList(msgspec.Struct):
    integrations: list[IntegrationBody]


class DropBody(msgspec.Struct):
    reason: DropReason
    detail: str


class DeliveryAnswer(msgspec.Struct):
    """What became of an authenticated delivery (providers retry anything but a 200)."""

    status: str
    accepted: int
    duplicates: int
    dropped: int
    event_ids: list[str]
    reasons: list[DropBody]


_LOCATION = Header("Location", {"type": "string"}, "The new integration", required=True)


def _new_integration(settings: Settings) -> dict[str, type]:
    return {JSON: NewIntegration}


def _new_signing_secret(settings: Settings) -> dict[str, type]:
    return {JSON: NewSigningSecret}


def _delivery(settings: Settings) -> dict[str, Any]:
    return {JSON: dict[str, Any]}


def _receiver(provider: Provider, method: str) -> Endpoint:
    return Endpoint(
        method,
        provider.path,
        integrations.receiver(provider),
        f"{provider.type.value} deliveries, authenticated by the integration's secret",
        Access.PUBLIC,
        {200: json_reply(DeliveryAnswer, "Authenticated and read: what happened to it")},
        (InvalidJson, InvalidRequest, Unauthorized, PayloadTooLarge),
        body=_delivery if method != "GET" else None,
    )


def endpoints() -> list[Endpoint]:
    """Integration management, then every registered provider's receiver."""
    managed = [
        Endpoint(
            "POST",
            "/v1/integrations",
            integrations_admin.create_integration,
            "Create an integration; its generated secret is shown once",
            Access.WRITE,
            {201: json_reply(IntegrationBody, "Created", _LOCATION)},
            (InvalidJson, InvalidRequest, PayloadTooLarge),
            body=_new_integration,
        ),
        Endpoint(
            "GET",
            "/v1/integrations",
            integrations_admin.list_integrations,
            "The workspace's integrations",
            Access.READ,
            {200: json_reply(IntegrationList, "Every integration")},
        ),
        Endpoint(
            "GET",
            "/v1/integrations/{integration_id}",
            integrations_admin.get_integration,
            "One integration with its counts, drops and last errors",
            Access.READ,
            {200: json_reply(IntegrationBody, "The integration")},
            (NotFound,),
        ),
        Endpoint(
            "PATCH",
            "/v1/integrations/{integration_id}",
            integrations_admin.set_signing_secret,
            "Replace a Stripe integration's signing secret, or add one beside the old"
            " (keep_previous) while Stripe rolls it; its URL stays",
            Access.WRITE,
            {200: json_reply(IntegrationBody, "The integration")},
            (InvalidJson, InvalidRequest, NotFound, PayloadTooLarge),
            body=_new_signing_secret,
        ),
    ]
    receivers = [
        _receiver(provider, method)
        for provider in providers().values()
        for method in provider.methods
    ]
    return [*managed, *receivers]
