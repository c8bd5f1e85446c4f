"""What a person's events add up to (analytics.md §2 and §3), as a value that merges.

Facts are kept per identity (a user id, or an anonymous id's own events) and a profile is the
merge of a user's facts with those of every anonymous id linked to them. ``merge`` is
associative and commutative, so the order events arrive in, and the moment a link arrives,
never change the result: a projection built incrementally equals one rebuilt from the log.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

#: Events that move a subscription's status, and the status each leaves it in.
STATUS_EVENTS = {
    "trial_started": "trialing",
    "subscription_started": "active",
    "renewal_completed": "active",
    "subscription_cancelled": "cancelled",
    "refund_issued": "refunded",
}
#: Events whose ``plan_id`` is the user's current plan when it is the latest of them.
PLAN_EVENTS = frozenset({*STATUS_EVENTS, "plan_changed"}) - {"refund_issued"}
GROSS_EVENTS = frozenset({"subscription_started", "renewal_completed"})
REVENUE_EVENTS = GROSS_EVENTS | {"refund_issued"}
START_EVENTS = frozenset({"trial_started", "subscription_started"})
#: Events whose facts say more than a count and a timestamp (the others: ``count_in``).
DETAILED_EVENTS = PLAN_EVENTS | REVENUE_EVENTS | {"install_attributed"}
#: Start times kept per person: enough to tell a join within 7 days of the earliest install.
MAX_STARTS = 16
DAY_US = 86_400_000_000
JOIN_WINDOW_US = 7 * DAY_US
_ATTRIBUTION = ("campaign_id", "channel", "ad_set_id", "creative_id", "country")
_props = msgspec.json.Decoder(dict[str, Any])


class Status(StrEnum):
    NONE = "none"
    TRIALING = "trialing"
    ACTIVE = "active"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class Install(msgspec.Struct, array_like=True, frozen=True):
    """The earliest ``install_attributed`` (by timestamp, then log position)."""

    ts: int
    seq: int
    campaign_id: str | None
    channel: str | None
    ad_set_id: str | None
    creative_id: str | None
    country: str | None


class Mark(msgspec.Struct, array_like=True, frozen=True):
    """The latest event of a kind (by timestamp, then log position) and what it says."""

    ts: int
    seq: int
    value: str | None


class Money(msgspec.Struct, array_like=True):
    """Amounts in millionths of the currency unit: sums stay exact."""

    gross: int = 0
    refunded: int = 0


class Facts(msgspec.Struct, array_like=True, omit_defaults=True):
    count: int = 0
    first_seen: int | None = None
    last_seen: int | None = None
    install: Install | None = None
    status: Mark | None = None
    plan: Mark | None = None
    trial_first: int | None = None
    paid_first: int | None = None
    paid_last: int | None = None
    cancelled_last: int | None = None
    renewals: int = 0
    revenue_events: int = 0
    revenue: dict[str, Money] = {}
    starts: list[int] = []

    @property
    def subscription_status(self) -> Status:
        return Status(self.status.value) if self.status and self.status.value else Status.NONE

    @property
    def trial_converted(self) -> bool:
        """A trial followed by a paid start."""
        return (
            self.trial_first is not None
            and self.paid_last is not None
            and self.trial_first <= self.paid_last
        )

    @property
    def joined_within_7d(self) -> bool:
        """A trial or paid start within 7 days after the install attribution."""
        if self.install is None:
            return False
        start = self.install.ts
        return any(start <= s <= start + JOIN_WINDOW_US for s in self.starts)


encode_facts = msgspec.json.Encoder().encode
decode_facts = msgspec.json.Decoder(Facts).decode


def facts_of(event: str, seq: int, ts: int, properties: str | bytes | None) -> Facts:
    """The facts one event contributes."""
    facts = Facts(count=1, first_seen=ts, last_seen=ts)
    if event not in DETAILED_EVENTS:
        return facts
    props = _props.decode(properties) if properties else {}
    if event == "install_attributed":
        facts.install = Install(ts, seq, *(_text(props.get(name)) for name in _ATTRIBUTION))
    if event in STATUS_EVENTS:
        facts.status = Mark(ts, seq, STATUS_EVENTS[event])
    if event in PLAN_EVENTS and _text(props.get("plan_id")):
        facts.plan = Mark(ts, seq, _text(props.get("plan_id")))
    _lifecycle(facts, event, ts)
    if event in REVENUE_EVENTS:
        _revenue(facts, event, props)
    return facts


def count_in(facts: Facts, ts: int) -> None:
    """Add an event that is not one of ``DETAILED_EVENTS`` to ``facts``, in place: what
    ``merge(facts, facts_of(...))`` gives, without building two structs per event (most events
    of a projector batch are these)."""
    facts.count += 1
    if facts.first_seen is None or ts < facts.first_seen:
        facts.first_seen = ts
    if facts.last_seen is None or ts > facts.last_seen:
        facts.last_seen = ts


def _lifecycle(facts: Facts, event: str, ts: int) -> None:
    if event == "trial_started":
        facts.trial_first = ts
    elif event == "subscription_started":
        facts.paid_first = facts.paid_last = ts
    elif event == "subscription_cancelled":
        facts.cancelled_last = ts
    elif event == "renewal_completed":
        facts.renewals = 1
    if event in START_EVENTS:
        facts.starts = [ts]


def _revenue(facts: Facts, event: str, props: dict[str, Any]) -> None:
    facts.revenue_events = 1
    amount, currency = props.get("revenue"), props.get("currency")
    if not isinstance(amount, int | float) or type(currency) is not str:
        return
    micros = round(amount * 1_000_000)
    money = Money(refunded=micros) if event == "refund_issued" else Money(gross=micros)
    facts.revenue = {currency: money}


def _text(value: object) -> str | None:
    return value if type(value) is str else None


def merge(a: Facts, b: Facts) -> Facts:
    """The facts of two sets of events together."""
    total = msgspec.structs.replace(a)
    merge_into(total, b)
    return total


def merge_into(total: Facts, b: Facts) -> None:
    """``total`` becomes ``merge(total, b)``, in place; sub-values are replaced, never changed
    (they may be shared with ``b`` or another ``Facts``). Checks only what ``b`` has: most
    operands are one event's facts, with most fields unset."""
    total.count += b.count
    if b.first_seen is not None:
        total.first_seen = _least(total.first_seen, b.first_seen)
    if b.last_seen is not None:
        total.last_seen = _most(total.last_seen, b.last_seen)
    if b.install is not None:
        total.install = _earliest(total.install, b.install)
    if b.status is not None:
        total.status = _latest(total.status, b.status)
    if b.plan is not None:
        total.plan = _latest(total.plan, b.plan)
    if b.trial_first is not None:
        total.trial_first = _least(total.trial_first, b.trial_first)
    if b.paid_first is not None:
        total.paid_first = _least(total.paid_first, b.paid_first)
    if b.paid_last is not None:
        total.paid_last = _most(total.paid_last, b.paid_last)
    if b.cancelled_last is not None:
        total.cancelled_last = _most(total.cancelled_last, b.cancelled_last)
    total.renewals += b.renewals
    total.revenue_events += b.revenue_events
    if b.revenue:
        total.revenue = _add_money(total.revenue, b.revenue)
    if b.starts:
        total.starts = (
            sorted(set(total.starts) | set(b.starts))[:MAX_STARTS] if total.starts else b.starts
        )


def merge_all(parts: list[Facts]) -> Facts:
    total = Facts()
    for part in parts:
        merge_into(total, part)
    return total


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _most(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _earliest(a: Install | None, b: Install | None) -> Install | None:
    if a is None or b is None:
        return a or b
    return a if (a.ts, a.seq) <= (b.ts, b.seq) else b


def _latest(a: Mark | None, b: Mark | None) -> Mark | None:
    if a is None or b is None:
        return a or b
    return a if (a.ts, a.seq) >= (b.ts, b.seq) else b


def _add_money(a: dict[str, Money], b: dict[str, Money]) -> dict[str, Money]:
    if not a or not b:
        return dict(a or b)
    total = {c: Money(m.gross, m.refunded) for c, m in a.items()}
    for currency, money in b.items():
        kept = total.setdefault(currency, Money())
        kept.gross += money.gross
        kept.refunded += money.refunded
    return total
