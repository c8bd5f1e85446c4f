"""Stripe webhook events → canonical events (integrations.md §3).

The mapping table is ``HANDLERS`` (one function per Stripe event type); types not in it are
dropped as unknown. Both payload shapes are read: from API version 2025-03-31 an invoice's
subscription is at ``parent.subscription_details`` and a line's price at
``pricing.price_details``; before, ``subscription``/``subscription_details`` and
``price``/``plan``. Every delivery maps to at most one event, ``insert_id`` = ``stripe:<evt_…>``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from flokit.integrations import fields
from flokit.integrations import stripe_fields as f
from flokit.integrations.outcome import CanonicalEvent, Dropped, DropReason, Mapped
from flokit.integrations.registry import MapContext, NotProviderShape
from flokit.integrations.stripe_fields import Drop
from flokit.integrations.stripe_memory import RefundStep, StripeMemory
from flokit.timestamps import format_iso

DAY_S = 86_400
STORE = "stripe"


class Envelope(NamedTuple):
    """The event's envelope, checked: ``id`` is the dedup key, ``created`` the timestamp."""

    id: str
    type: str
    created: int
    livemode: bool
    object: dict[str, Any]
    previous: dict[str, Any]


class Emit(NamedTuple):
    """A handler's answer: the canonical event's name, user and properties."""

    event: str
    user_id: str
    properties: dict[str, Any]


Handler = Callable[[Envelope, StripeMemory], Emit]


def map_stripe(payload: Any, ctx: MapContext) -> list[Mapped]:
    """One Stripe event (decoded JSON) as canonical events or drops. Raises nothing for any
    JSON value but ``NotProviderShape`` (a 400) when it is not a Stripe event at all."""
    try:
        return [_map(payload, ctx)]
    except Drop as drop:
        return [Dropped(drop.reason, drop.detail)]


def _map(payload: Any, ctx: MapContext) -> Mapped:
    env = _envelope(payload)
    if not env.livemode and not ctx.keep_sandbox:
        return Dropped(DropReason.SANDBOX, f"{env.id}: livemode is false (test mode)")
    handler = HANDLERS.get(env.type)
    if handler is None:
        return Dropped(DropReason.UNKNOWN_TYPE, f"{env.id}: type {env.type!r} is not mapped")
    emit = handler(env, StripeMemory(ctx.memory))
    properties = dict(emit.properties)
    if not env.livemode:
        properties["environment"] = "sandbox"
    return CanonicalEvent(
        event=emit.event,
        timestamp=format_iso(env.created * 1_000_000),
        insert_id=f"{STORE}:{env.id}",
        user_id=emit.user_id,
        properties=properties,
    )


def _envelope(payload: Any) -> Envelope:
    if type(payload) is not dict or ("type" not in payload and "data" not in payload):
        raise NotProviderShape("The body is not a Stripe event (an object with type and data)")
    data = f.mapping(payload, "data", "data")
    livemode = payload.get("livemode")
    if type(livemode) is not bool:
        raise f.missing("livemode", "a boolean")
    return Envelope(
        id=f.text(payload, "id", "id"),
        type=f.text(payload, "type", "type"),
        created=f.unix_seconds(payload, "created", "created"),
        livemode=livemode,
        object=f.mapping(data, "object", "data.object"),
        previous=fields.obj(data, "previous_attributes"),
    )


def _not_mapped(detail: str) -> Drop:
    return Drop(DropReason.NOT_MAPPED, detail)


# --- identity ---------------------------------------------------------------------------------


def _user_id(
    metadata_sources: list[dict[str, Any]], customer: str | None, memory: StripeMemory
) -> str:
    """``metadata.user_id`` of the object (or its subscription details), else the user last seen
    with this customer, else the customer id itself."""
    for metadata in metadata_sources:
        if "user_id" in metadata:
            user_id = metadata["user_id"]
            if not f.is_id(user_id):
                raise f.missing("metadata.user_id", "a non-empty string")
            if customer is not None:
                memory.remember_user(customer, user_id)
            return user_id
    if customer is None:
        raise f.missing("customer", "an id (no metadata.user_id either)")
    return memory.user_of_customer(customer) or customer


# --- subscriptions ----------------------------------------------------------------------------


class Subscription(NamedTuple):
    id: str
    user_id: str
    plan_id: str


def _subscription(env: Envelope, memory: StripeMemory) -> Subscription:
    sub = env.object
    sub_id = f.text(sub, "id", "data.object.id")
    plan_id = _subscription_plan(sub) or memory.plan_of(sub_id)
    if plan_id is None:
        raise f.missing("data.object.items.data[0].price.id", "an id")
    memory.remember_plan(sub_id, plan_id)
    user_id = _user_id([fields.obj(sub, "metadata")], f.ref(sub.get("customer")), memory)
    return Subscription(sub_id, user_id, plan_id)


def _subscription_plan(sub: dict[str, Any]) -> str | None:
    """The first item's price id (``plan`` on the item, or the subscription, in old versions)."""
    items = fields.obj(sub, "items").get("data")
    if type(items) is list and items and type(items[0]) is dict:
        first = items[0]
        return f.ref(first.get("price")) or f.ref(first.get("plan"))
    return f.ref(sub.get("plan"))


def _subscription_created(env: Envelope, memory: StripeMemory) -> Emit:
    sub = _subscription(env, memory)
    status = env.object.get("status")
    if status != "trialing":
        raise _not_mapped(f"{env.id}: subscription created {status!r}; its invoice starts it")
    memory.mark_trialing(sub.id)
    properties: dict[str, Any] = {"plan_id": sub.plan_id}
    trial_start, trial_end = env.object.get("trial_start"), env.object.get("trial_end")
    if type(trial_start) is int and type(trial_end) is int and trial_end >= trial_start:
        properties["trial_length_days"] = round((trial_end - trial_start) / DAY_S)
    return Emit("trial_started", sub.user_id, properties)


def _subscription_updated(env: Envelope, memory: StripeMemory) -> Emit:
    sub = _subscription(env, memory)
    if "trialing" in (env.object.get("status"), env.previous.get("status")):
        memory.mark_trialing(sub.id)
    turned_true = (
        env.previous.get("cancel_at_period_end") is False
        and env.object.get("cancel_at_period_end") is True
    )
    if not turned_true:
        raise _not_mapped(f"{env.id}: subscription update without a cancellation")
    return _cancellation(env, sub, memory)


def _subscription_deleted(env: Envelope, memory: StripeMemory) -> Emit:
    return _cancellation(env, _subscription(env, memory), memory)


def _cancellation(env: Envelope, sub: Subscription, memory: StripeMemory) -> Emit:
    if not memory.claim_cancellation(sub.id, env.id):
        raise Drop(DropReason.ALREADY_CANCELLED, f"{env.id}: {sub.id} was already cancelled")
    properties: dict[str, Any] = {"plan_id": sub.plan_id}
    reason = fields.obj(env.object, "cancellation_details").get("reason")
    if f.is_id(reason):
        properties["cancel_reason"] = reason
    return Emit("subscription_cancelled", sub.user_id, properties)


# --- invoices ---------------------------------------------------------------------------------


def _invoice_payment_succeeded(env: Envelope, memory: StripeMemory) -> Emit:
    invoice = env.object
    invoice_id = f.text(invoice, "id", "data.object.id")
    amount = f.minor_units(invoice, "amount_paid", "data.object.amount_paid")
    code = f.currency(invoice, "currency", "data.object.currency")
    reason = invoice.get("billing_reason")
    if reason not in ("subscription_create", "subscription_cycle"):
        raise _not_mapped(f"{env.id}: invoice billing_reason {reason!r} is not mapped")
    if amount == 0:
        raise _not_mapped(f"{env.id}: zero-amount invoice {invoice_id}")
    details = _subscription_details(invoice)
    sub_id = f.ref(details.get("subscription")) or f.ref(invoice.get("subscription"))
    if sub_id is None:
        raise f.missing("data.object.parent.subscription_details.subscription", "an id")
    plan_id = _invoice_plan(invoice) or memory.plan_of(sub_id)
    if plan_id is None:
        raise f.missing("data.object.lines.data[0] price", "an id")
    sources = [fields.obj(details, "metadata"), fields.obj(invoice, "metadata")]
    user_id = _user_id(sources, f.ref(invoice.get("customer")), memory)
    converted = reason == "subscription_cycle" and memory.converting_invoice(sub_id, invoice_id)
    event = "subscription_started" if reason == "subscription_create" or converted else None
    properties: dict[str, Any] = {
        "plan_id": plan_id,
        "revenue": f.major_units(amount, code),
        "currency": code,
        "transaction_id": invoice_id,
        "store": STORE,
    }
    if event is None:
        return Emit("renewal_completed", user_id, properties)
    return Emit("subscription_started", user_id, {**properties, "trial_converted": converted})


def _subscription_details(invoice: dict[str, Any]) -> dict[str, Any]:
    """``parent.subscription_details`` (2025-03-31 on) or top-level ``subscription_details``."""
    parent = fields.obj(invoice, "parent")
    if "subscription_details" in parent:
        return fields.obj(parent, "subscription_details")
    return fields.obj(invoice, "subscription_details")


def _invoice_plan(invoice: dict[str, Any]) -> str | None:
    """The price of the invoice's first subscription line, in either shape."""
    lines = fields.obj(invoice, "lines").get("data")
    if type(lines) is not list:
        return None
    for line in lines:
        if type(line) is dict and _is_subscription_line(line):
            pricing = fields.obj(fields.obj(line, "pricing"), "price_details")
            found = f.ref(pricing.get("price")) or f.ref(line.get("price"))
            found = found or f.ref(line.get("plan"))
            if found is not None:
                return found
    return None


def _is_subscription_line(line: dict[str, Any]) -> bool:
    parent = fields.obj(line, "parent")
    return line.get("type") == "subscription" or "subscription_item_details" in parent


def _not_a_payment(env: Envelope, memory: StripeMemory) -> Emit:
    raise _not_mapped(f"{env.id}: {env.type} records no payment")


# --- refunds ----------------------------------------------------------------------------------


def _charge_refunded(env: Envelope, memory: StripeMemory) -> Emit:
    charge = env.object
    charge_id = f.text(charge, "id", "data.object.id")
    cumulative = f.minor_units(charge, "amount_refunded", "data.object.amount_refunded")
    code = f.currency(charge, "currency", "data.object.currency")
    user_id = _user_id([fields.obj(charge, "metadata")], f.ref(charge.get("customer")), memory)
    # Before 2025-03-31 a charge names its invoice: the refunded transaction is the invoice.
    refunded = f.ref(charge.get("invoice")) or charge_id
    step = _refund_step(env, charge_id, cumulative, memory)
    if step.amount == 0:
        raise _not_mapped(f"{env.id}: {charge_id} amount_refunded {cumulative} already counted")
    # Partial refunds of one transaction are distinct refunds: a later one is ``<id>:<amount
    # refunded before it>``, else the store's (event, transaction_id) key would swallow it.
    transaction_id = f"{refunded}:{step.before}" if step.before else refunded
    properties = {
        "revenue": f.major_units(step.amount, code),
        "currency": code,
        "transaction_id": transaction_id,
        "store": STORE,
    }
    return Emit("refund_issued", user_id, properties)


def _refund_step(
    env: Envelope, charge_id: str, cumulative: int, memory: StripeMemory
) -> RefundStep:
    """This event's refund: ``amount_refunded`` minus the previous ``amount_refunded`` when the
    event says it (exact in any order of arrival), else minus what memory counted before."""
    previous = env.previous.get("amount_refunded")
    if type(previous) is int and 0 <= previous <= cumulative:
        memory.note_refunded(charge_id, cumulative)
        return RefundStep(cumulative - previous, previous)
    return memory.refund_step(env.id) or memory.count_refund(charge_id, env.id, cumulative)


#: The mapping table (integrations.md §3): Stripe event type → handler. Others: unknown type.
HANDLERS: dict[str, Handler] = {
    "customer.subscription.created": _subscription_created,
    "customer.subscription.updated": _subscription_updated,
    "customer.subscription.deleted": _subscription_deleted,
    "invoice.payment_succeeded": _invoice_payment_succeeded,
    "invoice.payment_failed": _not_a_payment,
    "charge.refunded": _charge_refunded,
}
