"""Creating and describing integrations: one implementation for the CLI and the API."""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import replace
from enum import StrEnum
from typing import Any

import msgspec

from flokit.integrations.outcome import ProviderType
from flokit.integrations.records import Integration, IntegrationStats
from flokit.integrations.registry import (
    IntegrationSettings,
    Locate,
    Provider,
    StoredSecret,
    hash_secret,
    providers,
)
from flokit.integrations.stripe_provider import signing_secrets
from flokit.keys import new_public_id
from flokit.store.contract import IntegrationStore
from flokit.timestamps import format_iso

_BASE62 = string.digits + string.ascii_letters
#: Adjust's callback placeholders FloKit reads (integrations.md §5), in the URL it prints.
ADJUST_PLACEHOLDERS = (
    "app_token",
    "activity_kind",
    "event_token",
    "created_at",
    "os_name",
    "country",
    "adid",
    "idfa",
    "gps_adid",
    "network_name",
    "campaign_name",
    "adgroup_name",
    "creative_name",
    "revenue_float",
    "currency",
)


class IntegrationStatus(StrEnum):
    """An integration's ``status``: ``error`` when its last delivery was refused."""

    CONNECTED = "connected"
    ERROR = "error"
    SYNCING = "syncing"
    DISCONNECTED = "disconnected"


class CreateError(ValueError):
    """An integration that cannot be made as asked (the message says why)."""


class SecretError(ValueError):
    """A signing secret that cannot be set as asked (the message says why)."""


class NewIntegration(msgspec.Struct, forbid_unknown_fields=True):
    """What creating an integration takes (``POST /v1/integrations`` body, CLI options)."""

    type: ProviderType
    keep_sandbox: bool = False
    signing_secret: str | None = None  # Stripe's whsec_… (Stripe only)
    event_names: dict[str, str] = {}
    event_tokens: dict[str, str] = {}


class NewSigningSecret(msgspec.Struct, forbid_unknown_fields=True):
    """Rolling a Stripe integration's signing secret (``PATCH /v1/integrations/{id}`` body,
    ``flokit integrations set-secret``): ``keep_previous`` keeps the old secret(s) valid beside
    the new one while Stripe signs with both."""

    signing_secret: str
    keep_previous: bool = False


def new_secret() -> str:
    """A generated integration secret (URL-safe: Adjust sends it as a query parameter)."""
    return "fkwh_" + "".join(secrets.choice(_BASE62) for _ in range(32))


async def create(
    store: IntegrationStore, workspace_id: int, workspace_public_id: str, asked: NewIntegration
) -> tuple[Integration, str | None]:
    """Store a new integration; with the secret FloKit generated for it (shown once), if any."""
    provider = providers().get(asked.type)
    if provider is None:
        raise CreateError(f"Integrations of type {asked.type.value} are not available")
    if provider.generates_secret == (asked.signing_secret is not None):
        need = "takes no" if provider.generates_secret else "needs a"
        raise CreateError(f"A {asked.type.value} integration {need} signing secret")
    if asked.signing_secret is not None and not asked.signing_secret.strip():
        raise CreateError("The signing secret is empty")
    secret = new_secret() if provider.generates_secret else None
    integration = Integration(
        id=new_public_id("int_"),
        workspace_id=workspace_id,
        workspace_public_id=workspace_public_id,
        type=asked.type,
        keep_sandbox=asked.keep_sandbox,
        settings=IntegrationSettings(asked.event_names, asked.event_tokens),
        secret=StoredSecret(
            hash_secret(secret) if secret is not None else None, asked.signing_secret
        ),
        created_us=time.time_ns() // 1000,
    )
    await store.create_integration(integration)
    return integration, secret


async def set_signing_secret(
    store: IntegrationStore, integration: Integration, asked: NewSigningSecret
) -> Integration:
    """Replace (or, keeping the previous ones, add) a Stripe integration's signing secret;
    its id and URL stay, so the endpoint at Stripe needs no change."""
    if integration.type is not ProviderType.STRIPE:
        raise SecretError(f"A {integration.type.value} integration has no signing secret to set")
    new = asked.signing_secret.strip()
    if not new.startswith("whsec_") or len(new) == len("whsec_") or "," in new:
        raise SecretError("A Stripe signing secret is one whsec_… value")
    kept = signing_secrets(integration.secret) if asked.keep_previous else []
    joined = ",".join([new, *(old for old in kept if old != new)])
    await store.set_signing_secret(integration.id, joined)
    return replace(integration, secret=StoredSecret(None, joined))


def url(provider: Provider, integration: Integration, base_url: str, secret: str | None) -> str:
    """What to paste at the provider. Adjust's carries the secret and its placeholders."""
    path = provider.path.replace("{integration_id}", integration.id)
    base = base_url.rstrip("/") + path
    if provider.locate is Locate.BY_PATH_ID or provider.type is not ProviderType.ADJUST:
        return base
    placeholders = "&".join(f"{name}={{{name}}}" for name in ADJUST_PLACEHOLDERS)
    return f"{base}?secret={secret or '<secret>'}&{placeholders}"


def describe(
    integration: Integration, stats: IntegrationStats, base_url: str, secret: str | None = None
) -> dict[str, Any]:
    """FloKit's documented integration fields, plus drops by reason and the last errors; with
    the generated ``secret`` (in the URL too, for providers that carry it there) when it was
    just made."""
    failing = stats.last_status is not None and stats.last_status != 200
    provider = providers().get(integration.type)
    return {
        "id": integration.id,
        "type": integration.type.value,
        "status": IntegrationStatus.ERROR if failing else IntegrationStatus.CONNECTED,
        "last_synced_at": _iso(stats.last_synced_us),
        "error_message": stats.last_error if failing else None,
        "sync_stats": {
            "events_last_24h": stats.events_last_24h,
            "events_total": stats.events_total,
            "earliest_event_at": _iso(stats.earliest_event_us),
        },
        "dropped": stats.dropped,
        "errors": [
            {"at": format_iso(e.at_us), "status": e.status, "message": e.message}
            for e in stats.errors
        ],
        "workspace_id": integration.workspace_public_id,
        "created_at": format_iso(integration.created_us),
        "keep_sandbox": integration.keep_sandbox,
        "settings": msgspec.to_builtins(integration.settings),
        "url": url(provider, integration, base_url, secret) if provider else None,
    } | ({"secret": secret} if secret is not None else {})


def _iso(micros: int | None) -> str | None:
    return None if micros is None else format_iso(micros)
