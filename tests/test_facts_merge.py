"""The projector's in-place facts arithmetic (``count_in``, ``merge_into``, used so a rebuild
builds fewer structs per event) gives exactly what merging each event's facts gives, field by
field, and ``merge`` never changes its operands."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from flokit.domain.facts import (
    DETAILED_EVENTS,
    MAX_STARTS,
    Facts,
    Install,
    Mark,
    Money,
    count_in,
    encode_facts,
    facts_of,
    merge,
    merge_all,
    merge_into,
)

NAMES = sorted(DETAILED_EVENTS | {"app_opened", "paywall_viewed", "user_created"})
props = st.fixed_dictionaries(
    {},
    optional={
        "plan_id": st.sampled_from(["basic", "pro", 7]),
        "revenue": st.sampled_from([9.99, 4, -1.5, "x"]),
        "currency": st.sampled_from(["USD", "EUR"]),
        "campaign_id": st.sampled_from(["c1", "c2"]),
        "channel": st.sampled_from(["ads", None]),
    },
)
events = st.lists(
    st.tuples(st.sampled_from(NAMES), st.integers(0, 40), props), min_size=1, max_size=40
)


def reference_merge(a: Facts, b: Facts) -> Facts:
    """Each field by the rules of analytics.md §2, written out without shortcuts."""

    def least(x: int | None, y: int | None) -> int | None:
        return min((v for v in (x, y) if v is not None), default=None)

    def most(x: int | None, y: int | None) -> int | None:
        return max((v for v in (x, y) if v is not None), default=None)

    def earliest(x: Install | None, y: Install | None) -> Install | None:
        return min((v for v in (x, y) if v), key=lambda v: (v.ts, v.seq), default=None)

    def latest(x: Mark | None, y: Mark | None) -> Mark | None:
        return max((v for v in (x, y) if v), key=lambda v: (v.ts, v.seq), default=None)

    revenue: dict[str, Money] = {}
    for part in (a.revenue, b.revenue):
        for currency, money in part.items():
            kept = revenue.setdefault(currency, Money())
            revenue[currency] = Money(kept.gross + money.gross, kept.refunded + money.refunded)
    return Facts(
        count=a.count + b.count,
        first_seen=least(a.first_seen, b.first_seen),
        last_seen=most(a.last_seen, b.last_seen),
        install=earliest(a.install, b.install),
        status=latest(a.status, b.status),
        plan=latest(a.plan, b.plan),
        trial_first=least(a.trial_first, b.trial_first),
        paid_first=least(a.paid_first, b.paid_first),
        paid_last=most(a.paid_last, b.paid_last),
        cancelled_last=most(a.cancelled_last, b.cancelled_last),
        renewals=a.renewals + b.renewals,
        revenue_events=a.revenue_events + b.revenue_events,
        revenue=revenue,
        starts=sorted(set(a.starts) | set(b.starts))[:MAX_STARTS],
    )


def each_facts(batch: list[tuple[str, int, dict[str, object]]], first: int = 0) -> list[Facts]:
    """Each event's facts; ``first``: the log position of the first (positions are unique)."""
    return [
        facts_of(name, seq, ts, json.dumps(p)) for seq, (name, ts, p) in enumerate(batch, first)
    ]


@settings(max_examples=150, deadline=None)
@given(events)
def test_the_projectors_in_place_fold_equals_merging_each_events_facts(
    batch: list[tuple[str, int, dict[str, object]]],
) -> None:
    expected = Facts()
    for facts in each_facts(batch):
        expected = reference_merge(expected, facts)
    folded: Facts | None = None
    for seq, (name, ts, p) in enumerate(batch):  # as projections.identity._Batch._read does
        if folded is None:
            folded = facts_of(name, seq, ts, json.dumps(p))
        elif name in DETAILED_EVENTS:
            merge_into(folded, facts_of(name, seq, ts, json.dumps(p)))
        else:
            count_in(folded, ts)
    assert folded is not None
    assert encode_facts(folded) == encode_facts(expected)
    assert encode_facts(merge_all(each_facts(batch))) == encode_facts(expected)


@settings(max_examples=150, deadline=None)
@given(events, events)
def test_merge_is_the_reference_and_leaves_its_operands_alone(
    left: list[tuple[str, int, dict[str, object]]],
    right: list[tuple[str, int, dict[str, object]]],
) -> None:
    a, b = merge_all(each_facts(left)), merge_all(each_facts(right, len(left)))
    before = encode_facts(a), encode_facts(b)
    merged = merge(a, b)
    assert encode_facts(merged) == encode_facts(reference_merge(a, b))
    merge_into(merged, b)  # changing the result must not reach the operands
    assert (encode_facts(a), encode_facts(b)) == before
