"""RevenueCat webhooks (integrations.md §2): ``{"api_version": "1.0", "event": {...}}``, one
event a request, authenticated by the ``Authorization`` value set in RevenueCat's dashboard."""

from __future__ import annotations

from typing import Any

from flokit.integrations import fields as f
from flokit.integrations.outcome import CanonicalEvent, Dropped, DropReason, Mapped, ProviderType
from flokit.integrations.registry import Delivery, MapContext, NotProviderShape, secret_provider

ANONYMOUS_PREFIX = "$RCAnonymousID:"
DAY_MS = 86_400_000
#: RevenueCat's documented types that carry nothing the taxonomy records.
NOT_MAPPED_TYPES = frozenset(
    {
        "UNCANCELLATION",
        "NON_RENEWING_PURCHASE",
        "SUBSCRIPTION_PAUSED",
        "EXPIRATION",
        "BILLING_ISSUE",
        "PRODUCT_CHANGE",
        "SUBSCRIBER_ALIAS",
        "TRANSFER",
        "SUBSCRIPTION_EXTENDED",
        "TEMPORARY_ENTITLEMENT_GRANT",
        "REFUND_REVERSED",
        "INVOICE_ISSUANCE",
        "VIRTUAL_CURRENCY_TRANSACTION",
        "EXPERIMENT_ENROLLMENT",
    }
)
#: RevenueCat's ``store`` → the taxonomy's ``store`` values.
STORES = {
    "APP_STORE": "apple",
    "MAC_APP_STORE": "apple",
    "PLAY_STORE": "google",
    "AMAZON": "amazon",
    "STRIPE": "stripe",
    "PROMOTIONAL": "promotional",
    "RC_BILLING": "rc_billing",
    "ROKU": "roku",
    "PADDLE": "paddle",
}
PURCHASES = frozenset({"INITIAL_PURCHASE", "RENEWAL"})


def credential(delivery: Delivery) -> str | None:
    """The Authorization value as entered in RevenueCat, bare or as ``Bearer <value>``."""
    value = delivery.headers.get("authorization", "").strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        value = rest.strip()
    return value or None


def map_delivery(payload: Any, ctx: MapContext) -> list[Mapped]:
    """One webhook → at most one canonical event (RevenueCat sends one event a request)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), dict):
        raise NotProviderShape('A RevenueCat webhook is {"api_version": …, "event": {…}}')
    event: dict[str, Any] = payload["event"]
    event_id, kind = f.text(event, "id"), f.text(event, "type")
    if event_id is None:
        return [Dropped(DropReason.MISSING_FIELD, "event.id is missing or not a string")]
    if kind == "TEST":
        return [Dropped(DropReason.TEST_EVENT, f"TEST event {event_id}")]
    sandbox = event.get("environment") == "SANDBOX"
    if sandbox and not ctx.keep_sandbox:
        return [Dropped(DropReason.SANDBOX, f"{kind} {event_id} is from the sandbox")]
    name = _canonical_name(event)
    if name is None:
        reason = DropReason.NOT_MAPPED if kind in NOT_MAPPED_TYPES else DropReason.UNKNOWN_TYPE
        return [Dropped(reason, f"RevenueCat type {(kind or '')[:100]!r} maps to no event")]
    field = "purchased_at_ms" if kind in PURCHASES else "event_timestamp_ms"
    timestamp = f.iso_from_millis(event.get(field))
    if timestamp is None:
        return [Dropped(DropReason.BAD_TIMESTAMP, f"{field} is missing or not unix milliseconds")]
    user_id, anonymous_id = _identity(event)
    properties = _properties(name, event)
    if sandbox:
        properties["environment"] = "sandbox"
    return [
        CanonicalEvent(name, timestamp, f"revenuecat:{event_id}", user_id, anonymous_id, properties)
    ]


def _canonical_name(event: dict[str, Any]) -> str | None:
    """The mapping table of integrations.md §2."""
    kind = event.get("type")
    if kind == "INITIAL_PURCHASE":
        return "trial_started" if event.get("period_type") == "TRIAL" else "subscription_started"
    if kind == "RENEWAL":
        trial_conversion = event.get("is_trial_conversion") is True
        return "subscription_started" if trial_conversion else "renewal_completed"
    if kind == "CANCELLATION":
        refund = event.get("cancel_reason") == "CUSTOMER_SUPPORT"
        return "refund_issued" if refund else "subscription_cancelled"
    return None


def _identity(event: dict[str, Any]) -> tuple[str | None, str | None]:
    """(user_id, anonymous_id): an anonymous app_user_id stays anonymous, and an alias that
    is not anonymous is the user."""
    app_user_id = f.text(event, "app_user_id")
    if app_user_id is None or not app_user_id.startswith(ANONYMOUS_PREFIX):
        return app_user_id, None
    aliases = event.get("aliases")
    for alias in aliases if isinstance(aliases, list) else []:
        named = type(alias) is str and 0 < len(alias) <= f.MAX_ID
        if named and not alias.startswith(ANONYMOUS_PREFIX):
            return alias, app_user_id
    return None, app_user_id


def _properties(name: str, event: dict[str, Any]) -> dict[str, Any]:
    plan_id = f.text(event, "product_id")
    if name == "trial_started":
        return f.present(
            plan_id=plan_id,
            trial_length_days=_trial_days(event),
            offer_id=f.text(event, "presented_offering_id"),
        )
    if name == "subscription_cancelled":
        return f.present(plan_id=plan_id, cancel_reason=f.text(event, "cancel_reason"))
    price = f.number(event.get("price_in_purchased_currency"))
    common = {
        "revenue": price,
        "currency": f.currency(event, "currency"),
        "transaction_id": f.text(event, "transaction_id"),
    }
    if name == "refund_issued":
        return f.present(**{**common, "revenue": None if price is None else abs(price)})
    store = f.text(event, "store")
    return f.present(
        plan_id=plan_id,
        **common,
        trial_converted=name == "subscription_started" and event.get("type") == "RENEWAL",
        store=None if store is None else STORES.get(store, store.lower()),
        country=f.country(event, "country_code"),
        offer_code=f.text(event, "offer_code"),
    )


def _trial_days(event: dict[str, Any]) -> int | None:
    purchased = f.integer(event.get("purchased_at_ms"))
    expires = f.integer(event.get("expiration_at_ms"))
    if purchased is None or expires is None or expires < purchased:
        return None
    return round((expires - purchased) / DAY_MS)


PROVIDER = secret_provider(
    type=ProviderType.REVENUECAT,
    path="/v1/integrations/revenuecat/webhook",
    map=map_delivery,
    credential=credential,
)
