"""Stripe events → canonical events (integrations.md §3), on the pure mapper: every row of the
mapping table in both payload shapes, refunds' cumulative amounts, currencies' minor units,
trial and cancellation memory, sandbox, and hostile input (always a drop, never an exception)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stripe_helpers import SHAPES, context, edit, load, one

from flokit.integrations.outcome import CanonicalEvent, Dropped, DropReason, Mapped
from flokit.integrations.registry import NotProviderShape
from flokit.integrations.stripe import map_stripe
from flokit.integrations.stripe_fields import ZERO_DECIMAL
from flokit.model import ValidEvent
from flokit.pipeline.validate import Validator
from flokit.settings import Settings
from flokit.timestamps import parse_iso

NOW_US = parse_iso("2027-01-01T00:00:00Z")
assert NOW_US is not None
VALIDATOR = Validator(Settings())
USER = "usr_abc123"
SUB = "sub_1QfK2LEaZvKYlo2C8h3nT0aB"
PRICE = "price_1QfJxyEaZvKYlo2CyXmQ3vVb"


def accepted(outcome: Mapped) -> CanonicalEvent:
    """The canonical event, checked by the Events API's own validator."""
    assert isinstance(outcome, CanonicalEvent), outcome
    assert isinstance(VALIDATOR.check(outcome.encode(), 0, NOW_US), ValidEvent)
    return outcome


def dropped(outcome: Mapped, reason: DropReason) -> Dropped:
    assert isinstance(outcome, Dropped), outcome
    assert outcome.reason == reason, outcome
    return outcome


# --- the table, both shapes ---------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_trialing_subscription_is_trial_started(shape: str) -> None:
    event = accepted(one(load(f"subscription_created_trialing_{shape}.json")))
    assert event.event == "trial_started"
    assert event.user_id == USER
    assert event.properties == {"plan_id": PRICE, "trial_length_days": 7}
    assert event.insert_id == "stripe:evt_1QfK2MEaZvKYlo2Cs7Gd1uTr"
    assert event.timestamp == "2026-08-04T09:15:00Z"


def test_subscription_created_active_waits_for_its_invoice() -> None:
    doc = edit(load("subscription_created_trialing_basil.json"), data__object__status="active")
    dropped(one(doc), DropReason.NOT_MAPPED)


@pytest.mark.parametrize("shape", SHAPES)
def test_first_paid_invoice_is_subscription_started(shape: str) -> None:
    event = accepted(one(load(f"invoice_subscription_create_{shape}.json")))
    assert event.event == "subscription_started"
    assert event.user_id == USER
    assert event.properties == {
        "plan_id": PRICE,
        "revenue": 9.99,
        "currency": "USD",
        "transaction_id": "in_1QfK2LEaZvKYlo2CfirstP9q",
        "store": "stripe",
        "trial_converted": False,
    }


@pytest.mark.parametrize("shape", SHAPES)
def test_first_paid_invoice_after_a_trial_is_a_converted_start(shape: str) -> None:
    ctx = context()
    accepted(one(load(f"subscription_created_trialing_{shape}.json"), ctx))
    dropped(one(load("invoice_trial_zero_amount.json"), ctx), DropReason.NOT_MAPPED)
    conversion = accepted(one(load(f"invoice_subscription_cycle_{shape}.json"), ctx))
    assert conversion.event == "subscription_started"
    assert conversion.properties["trial_converted"] is True
    assert conversion.properties["transaction_id"] == "in_1QgA7xEaZvKYlo2CconvR4t"
    # A redelivery of the conversion is the same event again (the store answers duplicate).
    assert one(load(f"invoice_subscription_cycle_{shape}.json"), ctx) == conversion
    renewal = accepted(one(load(f"invoice_renewal_{shape}.json"), ctx))
    assert renewal.event == "renewal_completed"
    assert "trial_converted" not in renewal.properties
    assert renewal.properties["transaction_id"] == "in_1QgA7xEaZvKYlo2CrenewK8a"


@pytest.mark.parametrize("shape", SHAPES)
def test_cycle_invoice_of_a_never_trialing_subscription_is_a_renewal(shape: str) -> None:
    event = accepted(one(load(f"invoice_subscription_cycle_{shape}.json")))
    assert event.event == "renewal_completed"
    assert event.properties["revenue"] == 9.99


def test_cancel_at_period_end_turned_true_is_cancelled_once() -> None:
    ctx = context()
    cancel = accepted(one(load("subscription_updated_cancel_at_period_end.json"), ctx))
    assert cancel.event == "subscription_cancelled"
    assert cancel.properties == {"plan_id": PRICE, "cancel_reason": "cancellation_requested"}
    assert one(load("subscription_updated_cancel_at_period_end.json"), ctx) == cancel
    dropped(one(load("subscription_deleted.json"), ctx), DropReason.ALREADY_CANCELLED)


def test_deleted_subscription_is_cancelled() -> None:
    event = accepted(one(load("subscription_deleted.json")))
    assert (event.event, event.user_id) == ("subscription_cancelled", USER)


def test_update_that_does_not_turn_cancel_on_maps_to_nothing() -> None:
    doc = load("subscription_updated_cancel_at_period_end.json")
    already_on = edit(doc, data__previous_attributes={"metadata": {}})
    dropped(one(already_on), DropReason.NOT_MAPPED)
    turned_off = edit(
        doc,
        data__object__cancel_at_period_end=False,
        data__previous_attributes={"cancel_at_period_end": True},
    )
    dropped(one(turned_off), DropReason.NOT_MAPPED)


@pytest.mark.parametrize("name", ["invoice_trial_zero_amount.json", "invoice_payment_failed.json"])
def test_zero_amount_and_failed_invoices_map_to_nothing(name: str) -> None:
    dropped(one(load(name)), DropReason.NOT_MAPPED)


def test_other_billing_reasons_map_to_nothing() -> None:
    doc = edit(
        load("invoice_renewal_basil.json"), data__object__billing_reason="subscription_update"
    )
    dropped(one(doc), DropReason.NOT_MAPPED)


def test_unknown_types_are_dropped_and_named() -> None:
    doc = edit(load("invoice_renewal_basil.json"), type="invoice.paid")
    assert "invoice.paid" in dropped(one(doc), DropReason.UNKNOWN_TYPE).detail


# --- refunds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "refunded"),
    [("2024", "in_1QgA7xEaZvKYlo2CrenewK8a"), ("basil", "ch_3QgA7xEaZvKYlo2C1sXyJ9pL")],
)
def test_refund_names_the_refunded_invoice_or_charge(shape: str, refunded: str) -> None:
    event = accepted(one(load(f"charge_refunded_{shape}.json")))
    assert event.event == "refund_issued"
    assert event.properties["transaction_id"] == refunded
    assert (event.properties["revenue"], event.properties["currency"]) == (9.99, "USD")


def _refund(evt: str, cumulative: int, previous: int | None = None) -> dict[str, Any]:
    doc = edit(load("charge_refunded_basil.json"), id=evt)
    doc["data"]["object"]["amount_refunded"] = cumulative
    doc["data"]["previous_attributes"] = {} if previous is None else {"amount_refunded": previous}
    return doc


def test_partial_refunds_emit_each_increment_once() -> None:
    ctx = context()
    first = accepted(one(_refund("evt_r1", 300), ctx))
    second = accepted(one(_refund("evt_r2", 999), ctx))
    assert (first.properties["revenue"], second.properties["revenue"]) == (3.0, 6.99)
    # Distinct transaction ids, else the store's (event, transaction_id) key would merge them.
    charge = "ch_3QgA7xEaZvKYlo2C1sXyJ9pL"
    assert (first.properties["transaction_id"], second.properties["transaction_id"]) == (
        charge,
        f"{charge}:300",
    )
    # A redelivery is the same event again (the store answers duplicate), nothing new.
    assert one(_refund("evt_r1", 300), ctx) == first
    assert one(_refund("evt_r2", 999), ctx) == second


def test_refunds_that_say_their_previous_amount_count_exactly_in_any_order() -> None:
    ctx = context()
    later = accepted(one(_refund("evt_r2", 999, previous=300), ctx))
    earlier = accepted(one(_refund("evt_r1", 300, previous=0), ctx))
    assert (earlier.properties["revenue"], later.properties["revenue"]) == (3.0, 6.99)
    charge = "ch_3QgA7xEaZvKYlo2C1sXyJ9pL"
    assert earlier.properties["transaction_id"] == charge
    assert later.properties["transaction_id"] == f"{charge}:300"
    assert one(_refund("evt_r2", 999, previous=300), ctx) == later


def test_without_the_previous_amount_an_older_refund_arriving_late_adds_nothing() -> None:
    """Memory alone cannot split the amounts then, but never counts more than was refunded."""
    ctx = context()
    assert accepted(one(_refund("evt_r2", 999), ctx)).properties["revenue"] == 9.99
    dropped(one(_refund("evt_r1", 300), ctx), DropReason.NOT_MAPPED)


def test_previous_amount_refunded_is_the_floor_when_memory_has_none() -> None:
    # The integration was created after the first refund: count only this refund's part.
    assert accepted(one(_refund("evt_r2", 999, previous=300))).properties["revenue"] == 6.99


def test_refund_of_a_charge_finds_the_user_its_subscription_named() -> None:
    ctx = context()
    accepted(one(load("subscription_created_trialing_basil.json"), ctx))
    assert accepted(one(load("charge_refunded_basil.json"), ctx)).user_id == USER
    # Without what the subscription said, the customer id is the user.
    assert accepted(one(load("charge_refunded_basil.json"))).user_id == "cus_R8mN2kQwLx4TzA"


# --- currencies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "minor", "revenue"),
    [("jpy", 1200, 1200), ("krw", 15000, 15000), ("vnd", 99000, 99000), ("usd", 999, 9.99),
     ("eur", 5, 0.05), ("kwd", 5120, 5.12), ("isk", 99000, 990.0), ("huf", 150000, 1500.0)],
)  # fmt: skip
def test_amounts_are_in_the_currencys_minor_unit(code: str, minor: int, revenue: float) -> None:
    doc = edit(
        load("invoice_renewal_basil.json"),
        data__object__currency=code,
        data__object__amount_paid=minor,
    )
    event = accepted(one(doc))
    assert (event.properties["revenue"], event.properties["currency"]) == (revenue, code.upper())


def test_stripe_zero_decimal_list_is_complete() -> None:
    assert {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX",
            "VND", "VUV", "XAF", "XOF", "XPF"} == ZERO_DECIMAL  # fmt: skip


# --- sandbox --------------------------------------------------------------------------------


def test_test_mode_is_dropped_unless_kept_then_marked() -> None:
    doc = edit(load("invoice_subscription_create_basil.json"), livemode=False)
    dropped(one(doc), DropReason.SANDBOX)
    kept = accepted(one(doc, context(keep_sandbox=True)))
    assert kept.properties["environment"] == "sandbox"
    assert (
        "environment"
        not in accepted(one(load("invoice_subscription_create_basil.json"))).properties
    )


# --- hostile input --------------------------------------------------------------------------

HOSTILE: list[tuple[str, dict[str, Any], DropReason]] = [
    ("no id", {"id": None}, DropReason.MISSING_FIELD),
    ("id a number", {"id": 7}, DropReason.MISSING_FIELD),
    ("type a list", {"type": ["charge.refunded"]}, DropReason.MISSING_FIELD),
    ("created a string", {"created": "1785834903"}, DropReason.BAD_TIMESTAMP),
    ("created negative", {"created": -1}, DropReason.BAD_TIMESTAMP),
    ("created huge", {"created": 10**30}, DropReason.BAD_TIMESTAMP),
    ("livemode a string", {"livemode": "true"}, DropReason.MISSING_FIELD),
    ("data null", {"data": None}, DropReason.MISSING_FIELD),
    ("object a list", {"data__object": []}, DropReason.MISSING_FIELD),
    ("amount negative", {"data__object__amount_paid": -999}, DropReason.INVALID),
    ("amount huge", {"data__object__amount_paid": 10**40}, DropReason.INVALID),
    ("amount a float", {"data__object__amount_paid": 9.99}, DropReason.MISSING_FIELD),
    ("amount a bool", {"data__object__amount_paid": True}, DropReason.MISSING_FIELD),
    ("currency a number", {"data__object__currency": 840}, DropReason.MISSING_FIELD),
    ("currency too long", {"data__object__currency": "usdt"}, DropReason.MISSING_FIELD),
    ("no invoice id", {"data__object__id": ""}, DropReason.MISSING_FIELD),
    ("no subscription", {"data__object__parent": None}, DropReason.MISSING_FIELD),
    ("no lines", {"data__object__lines": "x"}, DropReason.MISSING_FIELD),
    ("user id a number", {"data__object__parent__subscription_details__metadata": {"user_id": 5}},
     DropReason.MISSING_FIELD),
    ("no user and no customer",
     {"data__object__parent__subscription_details__metadata": {}, "data__object__customer": None},
     DropReason.MISSING_FIELD),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "reason"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_fields_are_dropped_with_a_reason(
    changes: dict[str, Any], reason: DropReason
) -> None:
    doc = edit(load("invoice_renewal_basil.json"), **changes)
    assert dropped(one(doc), reason).detail


def test_hostile_refund_amounts_are_dropped() -> None:
    dropped(one(_refund("evt_r1", -5)), DropReason.INVALID)
    dropped(one(_refund("evt_r1", 2**63)), DropReason.INVALID)
    doc = edit(_refund("evt_r1", 300), data__object__id=None)
    dropped(one(doc), DropReason.MISSING_FIELD)


@pytest.mark.parametrize("body", [None, 3, "evt", [], {}, {"id": "evt_1"}])
def test_bodies_that_are_not_stripe_events_at_all_are_refused(body: Any) -> None:
    with pytest.raises(NotProviderShape):
        map_stripe(body, context())


@pytest.mark.parametrize("body", [{"data": {"object": {}}}, {"type": "charge.refunded"}])
def test_events_without_their_fields_are_dropped(body: Any) -> None:
    dropped(one(body), DropReason.MISSING_FIELD)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from([
        "invoice_renewal_basil.json", "invoice_subscription_create_2024.json",
        "charge_refunded_2024.json", "subscription_updated_cancel_at_period_end.json",
        "subscription_created_trialing_basil.json",
    ]),
    path=st.sampled_from([
        ("data", "object"), ("data", "object", "metadata"), ("data", "object", "items"),
        ("data", "object", "lines"), ("data", "object", "parent"), ("data",),
        ("data", "previous_attributes"), (),
    ]),
    key=st.sampled_from(["id", "customer", "amount_paid", "amount_refunded", "currency",
                         "status", "data", "price", "subscription", "user_id", "created"]),
    value=_json,
)  # fmt: skip
def test_any_field_replaced_by_any_json_never_raises(
    name: str, path: tuple[str, ...], key: str, value: Any
) -> None:
    doc = load(name)
    node = doc
    for step in path:
        node = node.get(step) if type(node) is dict else None
    if type(node) is dict:
        node[key] = value
    for outcome in map_stripe(doc, context(keep_sandbox=True)):
        if isinstance(outcome, CanonicalEvent):
            outcome.encode()
