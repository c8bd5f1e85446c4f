"""A second implementation of the reports, straight from analytics.md §1, §3 to §6 and the README's
decisions, over the raw events in the order they were received: no projection, no SQL, nothing
imported from ``src``. The property test compares every field of every row with the server's.

Money is exact (``Fraction``); the server rounds to 6 decimals, so the test compares with a
tolerance of 1e-5."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

PLACEHOLDERS = {
    "anonymous", "guest", "undefined", "null", "none", "nan", "0", "unknown",
    "[object object]", "distinct_id", "user_id", "id",
}  # fmt: skip
DIMENSION = {
    "campaign": "campaign_id",
    "creative": "creative_id",
    "country": "country",
    "channel": "channel",
    "ad_set": "ad_set_id",
    "offer": "offer_id",
    "paywall": "paywall_id",
}
EPOCH = dt.date(1970, 1, 1)


def day_number(text: str) -> int:
    return (dt.date.fromisoformat(text) - EPOCH).days


def day_of_timestamp(text: str) -> int:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment.date() - EPOCH).days


def iso_day(day: int) -> str:
    return (EPOCH + dt.timedelta(days=day)).isoformat()


def real(value: str | None) -> str | None:
    if value is None or not value.strip() or value.strip().lower() in PLACEHOLDERS:
        return None
    return value


@dataclass
class Event:
    order: int  # receipt order
    name: str
    user: str | None
    anon: str | None
    ts: str
    props: dict[str, Any]

    @property
    def moment(self) -> tuple[dt.datetime, int]:
        return dt.datetime.fromisoformat(self.ts.replace("Z", "+00:00")), self.order

    @property
    def day(self) -> int:
        return day_of_timestamp(self.ts)


@dataclass
class Workspace:
    """Everything a workspace was sent, in order."""

    currency: str = "USD"
    events: list[Event] = field(default_factory=list)
    spend: dict[tuple[Any, ...], tuple[Fraction, str]] = field(default_factory=dict)
    rates: dict[tuple[int, str, str], Fraction] = field(default_factory=dict)

    def send_events(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            self.events.append(
                Event(
                    len(self.events),
                    e["event"],
                    e.get("user_id"),
                    e.get("anonymous_id"),
                    e["timestamp"],
                    e.get("properties", {}),
                )
            )

    def send_spend(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            key = (
                day_number(r["date"]),
                r["channel"],
                r["campaign_id"],
                r.get("ad_set_id", ""),
                r.get("creative_id", ""),
                r.get("country", ""),
            )
            self.spend[key] = (Fraction(str(r["spend"])), r.get("currency", self.currency))

    def send_rates(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            key = (day_number(r["date"]), r.get("base", self.currency), r["currency"])
            self.rates[key] = Fraction(str(r["rate"]))

    def rate(self, day: int, currency: str) -> Fraction | None:
        if currency == self.currency:
            return Fraction(1)
        return self.rates.get((day, self.currency, currency))


@dataclass
class Person:
    events: list[Event] = field(default_factory=list)


def people(ws: Workspace) -> dict[str, Person]:
    """Users (with the events of every anonymous id linked to them) and unlinked anonymous
    visitors; each event belongs to its user, else to its anonymous id's user, else to it."""
    first_pair: dict[str, tuple[Any, str]] = {}
    for e in ws.events:
        user, anon = real(e.user), real(e.anon)
        if user and anon and (anon not in first_pair or e.moment < first_pair[anon][0]):
            first_pair[anon] = (e.moment, user)
    found: dict[str, Person] = {}
    for e in ws.events:
        user, anon = real(e.user), real(e.anon)
        if user is None and anon is not None and anon in first_pair:
            user = first_pair[anon][1]
        key = f"u:{user}" if user else f"a:{anon}" if anon else None
        if key is not None:
            found.setdefault(key, Person()).events.append(e)
    return found


GROSS = ("subscription_started", "renewal_completed")


@dataclass
class Cohort:
    """What one person brings to the reports."""

    day: int
    values: dict[str, str]
    trial: bool
    paid: bool
    converted: bool
    renewals: int
    paid_first_day: int | None
    ended_day: int | None
    revenue: list[tuple[int, str, Fraction, bool]]  # (day, currency, signed amount, payment)


def cohort_of(person: Person, transaction_day: dict[str, int]) -> Cohort:
    events = sorted(person.events, key=lambda e: e.moment)
    installs = [e for e in events if e.name == "install_attributed"]
    install = installs[0] if installs else None
    starts = [e for e in events if e.name in ("trial_started", "subscription_started")]
    values = {}
    for group, prop in DIMENSION.items():
        if install is None:
            values[group] = "(unattributed)"
        elif group in ("offer", "paywall"):
            values[group] = (starts[0].props.get(prop) if starts else None) or "(none)"
        else:
            values[group] = install.props.get(prop) or "(none)"
    trials = [e for e in events if e.name == "trial_started"]
    paid = [e for e in events if e.name == "subscription_started"]
    payments = [e for e in events if e.name in GROSS]
    ends = [e for e in events if e.name in ("subscription_cancelled", "refund_issued")]
    ended = bool(ends) and (not payments or ends[-1].moment > payments[-1].moment)
    revenue, refunded = [], set()
    for e in events:
        amount = Fraction(str(e.props["revenue"])) if "revenue" in e.props else None
        if amount is None:
            continue
        if e.name in GROSS:
            revenue.append((e.day, e.props["currency"], amount, True))
        elif e.name == "refund_issued":
            txn = e.props.get("transaction_id")
            if txn in refunded:
                continue
            refunded.add(txn)
            day = transaction_day.get(txn, e.day)
            revenue.append((day, e.props["currency"], -amount, False))
    return Cohort(
        day=install.day if install else events[0].day,
        values=values,
        trial=bool(trials),
        paid=bool(paid),
        converted=bool(trials) and any(p.moment[0] >= trials[0].moment[0] for p in paid),
        renewals=sum(1 for e in events if e.name == "renewal_completed"),
        paid_first_day=paid[0].day if paid else None,
        ended_day=ends[-1].day if paid and ended else None,
        revenue=revenue,
    )


def cohorts(ws: Workspace) -> tuple[list[Cohort], int]:
    """Every person's cohort facts, and the newest event's day."""
    everyone = people(ws)
    owned = [e for p in everyone.values() for e in p.events]
    transaction_day: dict[str, int] = {}
    for e in sorted(owned, key=lambda e: e.moment):
        if e.name in GROSS and "transaction_id" in e.props:
            transaction_day.setdefault(e.props["transaction_id"], e.day)
    latest = max(e.moment for e in owned)[0]
    return [cohort_of(p, transaction_day) for p in everyone.values()], day_of_timestamp(
        latest.isoformat()
    )


def spend_of(ws: Workspace, group_by: str, start: int, end: int, weekly: bool = False) -> dict:
    """Spend converted, by group (and Monday of the spend's week)."""
    if group_by in ("offer", "paywall"):
        return {}
    position = ["channel", "campaign", "ad_set", "creative", "country"].index(group_by) + 1
    found: dict[Any, Fraction] = {}
    for key, (amount, currency) in ws.spend.items():
        day = key[0]
        if not start <= day <= end:
            continue
        rate = ws.rate(day, currency)  # a row without a rate counts 0, its group is shown
        group = key[position] or "(none)"
        slot = (group, monday(day)) if weekly else group
        found[slot] = found.get(slot, Fraction(0)) + amount * (rate or 0)
    return found


def monday(day: int) -> int:
    return day - (day + 3) % 7


def _ratio(part: Fraction | int, whole: Fraction | int) -> float | None:
    return float(Fraction(part) / whole) if whole else None


def payback(ws: Workspace, start: int, end: int, group_by: str, window: int) -> dict[str, Any]:
    """``GET /v1/reports/payback``: rows by group, and ``unconverted_events``."""
    everyone, latest = cohorts(ws)
    members: dict[str, list[Cohort]] = {}
    for c in everyone:
        if start <= c.day <= end:
            members.setdefault(c.values[group_by], []).append(c)
    spend = spend_of(ws, group_by, start, end)
    groups = set(members) | set(spend)
    rows, unconverted = {}, 0
    for group in groups:
        row, missing = _payback_row(ws, members.get(group, []), spend, group, group_by, window,
                                    latest)  # fmt: skip
        rows[group], unconverted = row, unconverted + missing
    return {"rows": rows, "unconverted_events": unconverted}


def _payback_row(ws, cohort, spend, group, group_by, window, latest):  # type: ignore[no-untyped-def]
    by_age: dict[int, Fraction] = {}
    payments, missing = 0, 0
    for c in cohort:
        for day, currency, amount, payment in c.revenue:
            rate = ws.rate(day, currency)
            if rate is None:
                missing += 1
                continue
            age = max(0, day - c.day)
            by_age[age] = by_age.get(age, Fraction(0)) + amount * rate
            payments += payment
    installs = sum(1 for c in cohort if group != "(unattributed)")
    trials = sum(c.trial for c in cohort)
    converted = sum(c.converted for c in cohort)
    subscriptions = sum(c.paid for c in cohort)
    renewals = sum(c.renewals for c in cohort)
    due = sum(
        max(c.renewals, (latest - c.paid_first_day) // 30)
        for c in cohort
        if c.paid and c.paid_first_day is not None
    )
    cost = None if group_by in ("offer", "paywall") else spend.get(group, Fraction(0))
    within = {n: sum((v for a, v in by_age.items() if a <= n), Fraction(0)) for n in (30, 60, 90)}
    total = sum(by_age.values(), Fraction(0))
    payback_days = None
    if cost:
        running = Fraction(0)
        for day in range(window + 1):
            running += by_age.get(day, Fraction(0))
            if running >= cost:
                payback_days = day
                break
    ltv = None
    if due and payments:
        r = min(Fraction(1), Fraction(renewals, due))
        ltv = float(total / payments * sum(r**k for k in range(12)))
    row = {
        "group": group,
        "users": len(cohort),
        "installs": installs,
        "spend": None if cost is None else float(cost),
        "trials": trials,
        "trials_converted": converted,
        "subscriptions": subscriptions,
        "renewals": renewals,
        "cac": _ratio(cost, subscriptions) if cost is not None else None,
        "trial_start_rate": _ratio(trials, installs),
        "trial_conversion_rate": _ratio(converted, trials),
        "renewal_rate": _ratio(renewals, subscriptions),
        "revenue": float(total),
        **{f"revenue_{n}d": float(within[n]) for n in (30, 60, 90)},
        **{f"roas_{n}d": _ratio(within[n], cost) if cost else None for n in (30, 60, 90)},
        "payback_days": payback_days,
        "ltv_projected": ltv,
    }
    return row, missing


def cohort_curves(
    ws: Workspace, start: int, end: int, group_by: str, most_weeks: int = 26
) -> dict[str, Any]:
    """``GET /v1/reports/cohorts``: cohorts by (group, Monday of the cohort week)."""
    everyone, latest = cohorts(ws)
    members: dict[tuple[str, int], list[Cohort]] = {}
    for c in everyone:
        if start <= c.day <= end:
            members.setdefault((c.values[group_by], monday(c.day)), []).append(c)
    spend = spend_of(ws, group_by, start, end, weekly=True)
    rows, unconverted = {}, 0
    for (group, week), cohort in members.items():
        weeks = min(most_weeks, max(0, (latest - week) // 7))
        revenue: dict[int, Fraction] = {}
        for c in cohort:
            for day, currency, amount, _ in c.revenue:
                rate = ws.rate(day, currency)
                if rate is None:
                    unconverted += 1
                    continue
                since = 0 if day < week else (day - week) // 7
                revenue[since] = revenue.get(since, Fraction(0)) + amount * rate
        curve, running = [], Fraction(0)
        for k in range(weeks + 1):
            last = week + 7 * k + 6
            running += revenue.get(k, Fraction(0))
            active = sum(
                1
                for c in cohort
                if c.paid
                and c.paid_first_day is not None
                and c.paid_first_day <= last
                and (c.ended_day is None or c.ended_day > last)
            )
            curve.append(
                {
                    "week": k,
                    "active_subscribers": active,
                    "cumulative_net_revenue": float(running),
                    "cumulative_net_revenue_per_user": float(running / len(cohort)),
                }
            )
        no_spend = group_by in ("offer", "paywall")
        rows[(group, iso_day(week))] = {
            "group": group,
            "cohort_week": iso_day(week),
            "users": len(cohort),
            "trials": sum(c.trial for c in cohort),
            "subscriptions": sum(c.paid for c in cohort),
            "spend": None if no_spend else float(spend.get((group, week), Fraction(0))),
            "weeks": curve,
        }
    return {"cohorts": rows, "unconverted_events": unconverted}
