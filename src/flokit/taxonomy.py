"""The event taxonomy as data (contract §4): who must be identified, required and typed properties.

Adding an event or a property rule is a change to the tables below, never to the validator.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: A property check answers whether a value is acceptable.
PropertyCheck = Callable[[Any], bool]


#: Turns a CSV cell into the property's type; a cell it cannot read stays a string, which the
#: check then rejects with the rule's reason.
Coerce = Callable[[str], Any]


def _as_text(cell: str) -> Any:
    return cell


@dataclass(frozen=True, slots=True)
class PropertyRule:
    """How one documented property must look wherever it appears on a taxonomy event."""

    check: PropertyCheck
    rule: str
    coerce: Coerce = _as_text


@dataclass(frozen=True, slots=True)
class EventSpec:
    """What a taxonomy event needs beyond ``event`` and ``timestamp``."""

    needs_user_id: bool
    required: tuple[str, ...] = ()


#: Revenue events are deduplicated on (workspace, event, transaction_id) (contract §5).
REVENUE_EVENTS = frozenset({"subscription_started", "renewal_completed", "refund_issued"})

_REVENUE = ("plan_id", "revenue", "currency", "transaction_id")

TAXONOMY: dict[str, EventSpec] = {
    "user_created": EventSpec(needs_user_id=True),
    "install_attributed": EventSpec(needs_user_id=False, required=("campaign_id", "channel")),
    "onboarding_started": EventSpec(needs_user_id=True),
    "onboarding_completed": EventSpec(needs_user_id=True),
    "activation_completed": EventSpec(needs_user_id=True),
    "paywall_viewed": EventSpec(needs_user_id=True, required=("paywall_id",)),
    "paywall_converted": EventSpec(needs_user_id=True, required=("paywall_id", "plan_id")),
    "trial_started": EventSpec(needs_user_id=True, required=("plan_id",)),
    "subscription_started": EventSpec(needs_user_id=True, required=_REVENUE),
    "renewal_completed": EventSpec(needs_user_id=True, required=_REVENUE),
    "subscription_cancelled": EventSpec(needs_user_id=True, required=("plan_id",)),
    "plan_changed": EventSpec(needs_user_id=True, required=("plan_id",)),
    "refund_issued": EventSpec(
        needs_user_id=True, required=("revenue", "currency", "transaction_id")
    ),
}


def _is_amount(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v) and v >= 0


def _is_count(v: Any) -> bool:
    return type(v) is int and v >= 0


def _is_short_string(v: Any) -> bool:
    """Ids are stored as text: no NUL, which PostgreSQL's text cannot hold."""
    return type(v) is str and 0 < len(v) <= 255 and "\x00" not in v


def _matches(pattern: str) -> PropertyCheck:
    compiled = re.compile(pattern)
    return lambda v: type(v) is str and compiled.fullmatch(v) is not None


def _number(cell: str) -> Any:
    for parse in (int, float):
        try:
            return parse(cell)
        except ValueError:
            pass
    return cell


def _integer(cell: str) -> Any:
    try:
        return int(cell)
    except ValueError:
        return cell


def _boolean(cell: str) -> Any:
    return {"true": True, "false": False}.get(cell.strip().lower(), cell)


def _json_array(cell: str) -> Any:
    try:
        value = json.loads(cell)
    except ValueError:
        return cell
    return value if isinstance(value, list) else cell


_ID = PropertyRule(_is_short_string, "a non-empty string of at most 255 characters without NUL")

PROPERTY_RULES: dict[str, PropertyRule] = {
    "revenue": PropertyRule(_is_amount, "a finite number >= 0", _number),
    "currency": PropertyRule(_matches("[A-Z]{3}"), "three uppercase letters (ISO 4217)"),
    "country": PropertyRule(_matches("[A-Z]{2}"), "two uppercase letters (ISO 3166-1 alpha-2)"),
    "platform": PropertyRule(lambda v: v in ("ios", "android", "web"), "one of ios, android, web"),
    "trial_length_days": PropertyRule(_is_count, "an integer >= 0", _integer),
    "steps_completed": PropertyRule(_is_count, "an integer >= 0", _integer),
    "trial_converted": PropertyRule(lambda v: type(v) is bool, "a boolean", _boolean),
    "plan_ids": PropertyRule(
        lambda v: type(v) is list and all(type(x) is str for x in v),
        "an array of strings",
        _json_array,
    ),
    **{
        name: _ID
        for name in (
            "plan_id",
            "paywall_id",
            "transaction_id",
            "campaign_id",
            "channel",
            "ad_set_id",
            "creative_id",
            "offer_id",
            "variant",
            "store",
            "install_source",
            "keyword",
            "attribution_model",
            "context",
        )
    },
}
