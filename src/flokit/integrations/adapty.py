"""Adapty webhooks (integrations.md §4): one event a request, authenticated by the
``Authorization`` value entered in Adapty's dashboard, sent as entered. Saving the integration
in Adapty sends ``{}``, which is answered 200 with nothing stored."""

from __future__ import annotations

from typing import Any

from flokit.integrations import fields as f
from flokit.integrations.outcome import CanonicalEvent, Dropped, DropReason, Mapped, ProviderType
from flokit.integrations.registry import Delivery, MapContext, NotProviderShape, secret_provider

#: Adapty's default event names → (canonical event, trial_converted). Adapty lets users rename
#: its events; an integration's ``event_names`` maps the names it sends back to these.
EVENTS: dict[str, tuple[str, bool | None]] = {
    "trial_started": ("trial_started", None),
    "subscription_started": ("subscription_started", False),
    "trial_converted": ("subscription_started", True),
    "subscription_renewed": ("renewal_completed", False),
    "subscription_renewal_cancelled": ("subscription_cancelled", None),
    "trial_renewal_cancelled": ("subscription_cancelled", None),
    "subscription_refunded": ("refund_issued", None),
    "non_subscription_purchase_refunded": ("refund_issued", None),
}
STORES = {"app_store": "apple", "play_store": "google", "stripe": "stripe", "amazon": "amazon"}


def credential(delivery: Delivery) -> str | None:
    """The Authorization value, exactly as entered in Adapty."""
    return delivery.headers.get("authorization", "").strip() or None


def map_delivery(payload: Any, ctx: MapContext) -> list[Mapped]:
    if not isinstance(payload, dict):
        raise NotProviderShape("An Adapty webhook is a JSON object")
    if not payload:  # Adapty's check when the integration is saved
        return []
    sent_name = payload.get("event_type")
    if type(sent_name) is not str:
        return [Dropped(DropReason.MISSING_FIELD, "event_type is missing or not a string")]
    props = f.obj(payload, "event_properties")
    if props.get("environment") == "Sandbox" and not ctx.keep_sandbox:
        return [Dropped(DropReason.SANDBOX, f"{sent_name[:100]} is from the sandbox")]
    default_name = ctx.settings.event_names.get(sent_name, sent_name)
    if default_name not in EVENTS:
        return [Dropped(DropReason.UNKNOWN_TYPE, f"Adapty event {sent_name[:100]!r} is not mapped")]
    timestamp = f.iso_from_iso(payload.get("event_datetime"))
    if timestamp is None:
        return [Dropped(DropReason.BAD_TIMESTAMP, "event_datetime is missing or not ISO 8601")]
    name, converted = EVENTS[default_name]
    user_id = f.text(payload, "customer_user_id")
    anonymous_id = None if user_id else f.text(payload, "profile_id")
    properties = _properties(name, props, converted)
    if props.get("environment") == "Sandbox":
        properties["environment"] = "sandbox"
    event_id = f.text(props, "profile_event_id") or f.dedup_id(
        f.text(payload, "profile_id"), sent_name, timestamp, f.text(props, "transaction_id")
    )
    return [
        CanonicalEvent(name, timestamp, f"adapty:{event_id}", user_id, anonymous_id, properties)
    ]


def _properties(name: str, props: dict[str, Any], converted: bool | None) -> dict[str, Any]:
    plan_id = f.text(props, "vendor_product_id")
    if name in ("trial_started", "subscription_cancelled"):
        return f.present(plan_id=plan_id, cancel_reason=f.text(props, "cancellation_reason"))
    price = f.number(props.get("price_local"))
    store = f.text(props, "store")
    return f.present(
        plan_id=plan_id if name != "refund_issued" else None,
        revenue=abs(price) if name == "refund_issued" and price is not None else price,
        currency=f.currency(props, "currency"),
        transaction_id=f.text(props, "transaction_id"),
        trial_converted=converted,
        store=None if store is None else STORES.get(store, store.lower()),
        country=f.country(props, "profile_country"),
    )


PROVIDER = secret_provider(
    type=ProviderType.ADAPTY,
    path="/v1/integrations/adapty/webhook",
    map=map_delivery,
    credential=credential,
)
