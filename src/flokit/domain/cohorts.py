"""What a person brings to the reports (analytics.md §3, §5, §6): their cohort, the group values
they are counted under, their subscription milestones, and their net revenue per day and
currency. Pure: the projector gives the person's facts, the revenue and subscription events of
all their identities (``Item``) and the dates of the transactions their refunds name.

Decisions (the README repeats them):
- the cohort date is the day of the earliest ``install_attributed``; a person with none is
  ``(unattributed)`` and dated by their first event;
- a refund counts once per refunded transaction, on the day of that transaction when any gross
  event of the workspace carries it, else on its own day;
- a subscription has *ended* when a cancellation or refund is later than the latest payment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from flokit.domain.calendar import day_of
from flokit.domain.facts import Facts

TRIAL, START, RENEWAL = "trial_started", "subscription_started", "renewal_completed"
CANCEL, REFUND = "subscription_cancelled", "refund_issued"
#: Events the reports keep beyond the facts.
ITEM_EVENTS = frozenset({TRIAL, START, RENEWAL, CANCEL, REFUND})
GROSS = frozenset({START, RENEWAL})
_props = msgspec.json.Decoder(dict[str, Any])


class Item(msgspec.Struct, frozen=True):
    """One subscription or revenue event of an identity."""

    seq: int
    event: str
    ts: int
    currency: str | None = None
    amount: int | None = None  # millionths, as sent (a refund's amount is positive)
    txn: str | None = None
    offer_id: str | None = None
    paywall_id: str | None = None


class CohortPerson(msgspec.Struct, frozen=True):
    """A ``report_people`` row (without workspace and key)."""

    cohort_day: int
    attributed: int
    campaign_id: str | None
    channel: str | None
    ad_set_id: str | None
    creative_id: str | None
    country: str | None
    offer_id: str | None
    paywall_id: str | None
    trial: int
    paid: int
    converted: int
    renewals: int
    paid_first_day: int | None
    ended_day: int | None


class DayRevenue(msgspec.Struct, frozen=True):
    """Net revenue of one person on one day in one currency."""

    day: int
    currency: str
    amount: int  # millionths, net of refunds
    events: int  # revenue events counted in it
    payments: int  # of which gross (starts and renewals)


def item_of(event: str, seq: int, ts: int, properties: str | bytes | None) -> Item | None:
    if event not in ITEM_EVENTS:
        return None
    props = _props.decode(properties) if properties else {}
    amount, currency = props.get("revenue"), props.get("currency")
    priced = type(amount) in (int, float) and type(currency) is str
    return Item(
        seq=seq,
        event=event,
        ts=ts,
        currency=currency if priced else None,
        amount=round(amount * 1_000_000) if priced and amount is not None else None,
        txn=_text(props.get("transaction_id")),
        offer_id=_text(props.get("offer_id")),
        paywall_id=_text(props.get("paywall_id")),
    )


def _text(value: object) -> str | None:
    return value if type(value) is str else None


def cohort_person(facts: Facts, items: list[Item]) -> CohortPerson:
    install = facts.install
    ordered = sorted(items, key=lambda i: (i.ts, i.seq))
    starts = [i for i in ordered if i.event in (TRIAL, START)]
    trials = [i.ts for i in ordered if i.event == TRIAL]
    paid = [i.ts for i in ordered if i.event == START]
    payments = [i for i in ordered if i.event in GROSS]
    ends = [i for i in ordered if i.event in (CANCEL, REFUND)]
    ended = ends and (
        not payments or (ends[-1].ts, ends[-1].seq) > (payments[-1].ts, payments[-1].seq)
    )
    assert facts.first_seen is not None
    return CohortPerson(
        cohort_day=day_of(install.ts if install else facts.first_seen),
        attributed=int(install is not None),
        campaign_id=install.campaign_id if install else None,
        channel=install.channel if install else None,
        ad_set_id=install.ad_set_id if install else None,
        creative_id=install.creative_id if install else None,
        country=install.country if install else None,
        offer_id=starts[0].offer_id if starts else None,
        paywall_id=starts[0].paywall_id if starts else None,
        trial=int(bool(trials)),
        paid=int(bool(paid)),
        converted=int(bool(trials) and bool(paid) and paid[-1] >= trials[0]),
        renewals=sum(1 for i in ordered if i.event == RENEWAL),
        paid_first_day=day_of(paid[0]) if paid else None,
        ended_day=day_of(ends[-1].ts) if paid and ended else None,
    )


def revenue_days(items: Iterable[Item], txn_ts: Mapping[str, int]) -> list[DayRevenue]:
    """Net revenue per (day, currency); ``txn_ts``: the earliest gross event's timestamp of
    each transaction the workspace knows."""
    totals: dict[tuple[int, str], list[int]] = {}
    refunded: set[str] = set()
    for item in sorted(items, key=lambda i: (i.ts, i.seq)):
        if item.amount is None or item.currency is None:
            continue
        if item.event in GROSS:
            day, sign, payment = day_of(item.ts), 1, 1
        elif item.event == REFUND:
            if item.txn is not None and item.txn in refunded:
                continue  # one refund per transaction
            if item.txn is not None:
                refunded.add(item.txn)
            day, sign, payment = day_of(txn_ts.get(item.txn or "", item.ts)), -1, 0
        else:
            continue
        kept = totals.setdefault((day, item.currency), [0, 0, 0])
        kept[0] += sign * item.amount
        kept[1] += 1
        kept[2] += payment
    return [DayRevenue(d, c, *v) for (d, c), v in sorted(totals.items())]
