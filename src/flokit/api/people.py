"""How the read API shows people, profiles and conflicts (analytics.md §2), as typed structs."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta

from flokit.api.bodies import AsOf, Cursor, DateTime, Event
from flokit.domain.facts import Facts, Status, decode_facts
from flokit.store.readmodel_queries import Conflict
from flokit.store.readmodel_sql import Person
from flokit.timestamps import format_iso


class PersonKind(StrEnum):
    USER = "user"
    ANONYMOUS = "anonymous"


#: The read models' one-letter kinds.
KINDS = {"u": PersonKind.USER, "a": PersonKind.ANONYMOUS}
Rate = Annotated[
    Annotated[float, Meta(ge=0, le=1)] | None, Meta(description="null when nothing to count")
]


class ConflictBody(msgspec.Struct):
    """An anonymous id seen with a second user: recorded, never merged."""

    anonymous_id: str
    linked_user_id: str
    other_user_id: str
    event_id: str
    timestamp: DateTime


class PersonRow(msgspec.Struct):
    """A row of ``GET /v1/users``."""

    kind: PersonKind
    id: str
    first_seen: DateTime
    last_seen: DateTime
    event_count: Annotated[int, Meta(ge=1)]
    status: Status
    anonymous_ids: list[str]


class Attribution(msgspec.Struct):
    campaign_id: str | None
    channel: str | None
    ad_set_id: str | None
    creative_id: str | None
    country: str | None
    attributed_at: DateTime


class Subscription(msgspec.Struct):
    status: Status
    plan_id: str | None
    trial_started_at: DateTime | None
    started_at: DateTime | None
    trial_converted: bool
    cancelled_at: DateTime | None
    renewals: Annotated[int, Meta(ge=0)]


class Money(msgspec.Struct):
    gross: float
    refunded: float
    net: float


class Profile(msgspec.Struct):
    """``GET /v1/users/{user_id}``: the merged facts of the user and their anonymous ids."""

    user_id: str
    anonymous_ids: list[str]
    first_seen: DateTime | None
    last_seen: DateTime | None
    event_count: Annotated[int, Meta(ge=1)]
    attribution: Attribution | None
    subscription: Subscription
    revenue: dict[str, Money]  # by currency
    conflicts: list[ConflictBody]
    as_of: AsOf


class PeoplePage(msgspec.Struct):
    users: list[PersonRow]
    next_cursor: Cursor
    as_of: AsOf


class Timeline(msgspec.Struct):
    events: list[Event]
    next_cursor: Cursor
    as_of: AsOf


#: How many of the newest conflicts ``GET /v1/identity`` shows.
NEWEST_CONFLICTS = 100


class Conflicts(msgspec.Struct):
    count: int
    newest: Annotated[list[ConflictBody], Meta(max_length=NEWEST_CONFLICTS)]


class IdentityHealth(msgspec.Struct):
    """``GET /v1/identity``."""

    users: int
    anonymous_ids_linked: int
    anonymous_ids_unlinked: int
    install_join_rate_7d: Rate
    unattributed_revenue_share: Rate
    conflicts: Conflicts
    as_of: AsOf


def _iso(micros: int | None) -> str | None:
    return None if micros is None else format_iso(micros)


def _amount(micros: int) -> float:
    return round(micros / 1_000_000, 6)


def person_body(person: Person, anonymous_ids: list[str]) -> PersonRow:
    return PersonRow(
        kind=KINDS[person.kind],
        id=person.id,
        first_seen=format_iso(person.first_seen),
        last_seen=format_iso(person.last_seen),
        event_count=person.event_count,
        status=Status(person.status),
        anonymous_ids=anonymous_ids,
    )


def profile_body(
    person: Person, anonymous_ids: list[str], conflicts: list[Conflict], as_of: int
) -> Profile:
    facts = decode_facts(person.facts)
    return Profile(
        user_id=person.id,
        anonymous_ids=anonymous_ids,
        first_seen=_iso(facts.first_seen),
        last_seen=_iso(facts.last_seen),
        event_count=facts.count,
        attribution=_attribution(facts),
        subscription=_subscription(facts),
        revenue={
            currency: Money(
                gross=_amount(m.gross),
                refunded=_amount(m.refunded),
                net=_amount(m.gross - m.refunded),
            )
            for currency, m in sorted(facts.revenue.items())
        },
        conflicts=[conflict_body(c) for c in conflicts],
        as_of=as_of,
    )


def _attribution(facts: Facts) -> Attribution | None:
    install = facts.install
    if install is None:
        return None
    return Attribution(
        campaign_id=install.campaign_id,
        channel=install.channel,
        ad_set_id=install.ad_set_id,
        creative_id=install.creative_id,
        country=install.country,
        attributed_at=format_iso(install.ts),
    )


def _subscription(facts: Facts) -> Subscription:
    return Subscription(
        status=facts.subscription_status,
        plan_id=facts.plan.value if facts.plan else None,
        trial_started_at=_iso(facts.trial_first),
        started_at=_iso(facts.paid_first),
        trial_converted=facts.trial_converted,
        cancelled_at=_iso(facts.cancelled_last),
        renewals=facts.renewals,
    )


def conflict_body(conflict: Conflict) -> ConflictBody:
    return ConflictBody(
        anonymous_id=conflict.anonymous_id,
        linked_user_id=conflict.linked_user_id,
        other_user_id=conflict.other_user_id,
        event_id=conflict.event_id,
        timestamp=format_iso(conflict.ts),
    )
