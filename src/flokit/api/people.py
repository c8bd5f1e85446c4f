"""How the read API shows people, profiles and conflicts (analytics.md §2)."""

from __future__ import annotations

from typing import Any

from flokit.domain.facts import Facts, decode_facts
from flokit.store.readmodel_queries import Conflict
from flokit.store.readmodel_sql import Person
from flokit.timestamps import format_iso

KINDS = {"u": "user", "a": "anonymous"}


def _iso(micros: int | None) -> str | None:
    return None if micros is None else format_iso(micros)


def _amount(micros: int) -> float:
    return round(micros / 1_000_000, 6)


def person_json(person: Person, anonymous_ids: list[str]) -> dict[str, Any]:
    """A row of ``GET /v1/users``."""
    return {
        "kind": KINDS[person.kind],
        "id": person.id,
        "first_seen": format_iso(person.first_seen),
        "last_seen": format_iso(person.last_seen),
        "event_count": person.event_count,
        "status": person.status,
        "anonymous_ids": anonymous_ids,
    }


def profile_json(
    person: Person, anonymous_ids: list[str], conflicts: list[Conflict]
) -> dict[str, Any]:
    """``GET /v1/users/{user_id}``: the merged facts of the user and their anonymous ids."""
    facts = decode_facts(person.facts)
    return {
        "user_id": person.id,
        "anonymous_ids": anonymous_ids,
        "first_seen": _iso(facts.first_seen),
        "last_seen": _iso(facts.last_seen),
        "event_count": facts.count,
        "attribution": _attribution(facts),
        "subscription": _subscription(facts),
        "revenue": {
            currency: {
                "gross": _amount(m.gross),
                "refunded": _amount(m.refunded),
                "net": _amount(m.gross - m.refunded),
            }
            for currency, m in sorted(facts.revenue.items())
        },
        "conflicts": [conflict_json(c) for c in conflicts],
    }


def _attribution(facts: Facts) -> dict[str, Any] | None:
    install = facts.install
    if install is None:
        return None
    return {
        "campaign_id": install.campaign_id,
        "channel": install.channel,
        "ad_set_id": install.ad_set_id,
        "creative_id": install.creative_id,
        "country": install.country,
        "attributed_at": format_iso(install.ts),
    }


def _subscription(facts: Facts) -> dict[str, Any]:
    return {
        "status": facts.subscription_status.value,
        "plan_id": facts.plan.value if facts.plan else None,
        "trial_started_at": _iso(facts.trial_first),
        "started_at": _iso(facts.paid_first),
        "trial_converted": facts.trial_converted,
        "cancelled_at": _iso(facts.cancelled_last),
        "renewals": facts.renewals,
    }


def conflict_json(conflict: Conflict) -> dict[str, Any]:
    return {
        "anonymous_id": conflict.anonymous_id,
        "linked_user_id": conflict.linked_user_id,
        "other_user_id": conflict.other_user_id,
        "event_id": conflict.event_id,
        "timestamp": format_iso(conflict.ts),
    }
