"""Adjust server callbacks (integrations.md §5): ``GET`` or ``POST /ingest/adjust`` with the
callback's placeholders as query parameters and the integration's ``secret`` among them (Adjust
does not sign callbacks)."""

from __future__ import annotations

from typing import Any

from flokit.integrations import fields as f
from flokit.integrations.outcome import CanonicalEvent, Dropped, DropReason, Mapped, ProviderType
from flokit.integrations.registry import Delivery, MapContext, NotProviderShape, secret_provider

INSTALL_KINDS = frozenset({"install", "reattribution"})
PLATFORMS = {"ios": "ios", "ipados": "ios", "android": "android"}
#: Query parameters passed on as properties of token-mapped events, when present.
PASSED_ON = ("plan_id", "transaction_id", "paywall_id", "offer_id")


def credential(delivery: Delivery) -> str | None:
    return delivery.query.get("secret") or None


def parameters(delivery: Delivery) -> dict[str, str]:
    """The callback's parameters: the query string (the secret left out)."""
    if delivery.body.strip():
        raise NotProviderShape("Adjust callbacks carry their parameters in the query string")
    return {name: value for name, value in delivery.query.items() if name != "secret"}


def map_delivery(payload: Any, ctx: MapContext) -> list[Mapped]:
    if not isinstance(payload, dict):
        raise NotProviderShape("Adjust callbacks are query parameters")
    kind = f.text(payload, "activity_kind")
    if kind is None:
        return [Dropped(DropReason.MISSING_FIELD, "activity_kind is missing")]
    timestamp = f.iso_from_seconds(f.integer_text(payload.get("created_at")))
    if timestamp is None:
        return [Dropped(DropReason.BAD_TIMESTAMP, "created_at is missing or not unix seconds")]
    user_id = f.text(payload, "user_id")
    anonymous_id = None if user_id else f.text(payload, "adid")
    common = f.present(
        country=f.country(payload, "country"),
        platform=PLATFORMS.get(str(payload.get("os_name", "")).lower()),
    )
    if kind in INSTALL_KINDS:
        name, properties = "install_attributed", {**_attribution(payload), **common}
    elif kind == "event":
        token = f.text(payload, "event_token")
        mapped = ctx.settings.event_tokens.get(token or "")
        if mapped is None:
            return [Dropped(DropReason.UNMAPPED_TOKEN, f"event token {token!r} is not mapped")]
        name, properties = mapped, {**_event_properties(payload), **common}
    else:
        return [Dropped(DropReason.UNKNOWN_TYPE, f"activity_kind {kind!r} is not mapped")]
    event_id = f.dedup_id(
        kind, f.text(payload, "adid"), f.text(payload, "event_token"), timestamp, user_id
    )
    return [
        CanonicalEvent(name, timestamp, f"adjust:{event_id}", user_id, anonymous_id, properties)
    ]


def _attribution(payload: dict[str, Any]) -> dict[str, Any]:
    network = f.text(payload, "network_name")
    channel = network.lower() if network is not None else None
    campaign = f.text(payload, "campaign_name")
    return f.present(
        channel=channel,
        campaign_id=campaign if campaign is not None or channel != "organic" else "organic",
        ad_set_id=f.text(payload, "adgroup_name"),
        creative_id=f.text(payload, "creative_name"),
    )


def _event_properties(payload: dict[str, Any]) -> dict[str, Any]:
    cents = f.decimal_text(payload.get("revenue"))
    revenue = f.decimal_text(payload.get("revenue_float"))
    if revenue is None and cents is not None:
        revenue = cents / 100
    passed = {name: value for name in PASSED_ON if (value := f.text(payload, name))}
    return {**passed, **f.present(revenue=revenue, currency=f.currency(payload, "currency"))}


PROVIDER = secret_provider(
    type=ProviderType.ADJUST,
    path="/ingest/adjust",
    map=map_delivery,
    credential=credential,
    methods=("GET", "POST"),
    payload=parameters,
)
