"""Generated people and their events, for the benchmarks that need a log with identity and
revenue structure (identity, issue 12; reports, issue 14).

Each user logs in from 1-3 anonymous ids (install_attributed with campaign and channel, then
paywall_viewed, before a linking event that carries both ids), with trials, subscriptions,
renewals, refunds and cancellations with unique transaction ids, a tail of heavy users, some
anonymous visitors who never log in, ~1% of anonymous ids later linked by a second user
(conflicts), placeholder ids ("undefined", "guest": the taxonomy wants a user id on
paywall_viewed, so anonymous views carry one of those), and arrival order shuffled against
timestamp order (some events arrive chunks late). Every event is validated by the project's
Validator and written through the store's writer.

What differs between the benches (the dates people start on, what an install is attributed
to, offers, currencies) is a ``Shape``; its defaults are the identity bench's store, so that
store stays the same events for the same seed.
"""

from __future__ import annotations

import json
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flokit.model import ValidEvent
from flokit.pipeline.validate import Validator
from flokit.settings import Settings
from flokit.store.sqlite import SqliteStore

from common import write_batches

DAY_US = 86_400_000_000
YEAR_2024_US = 1_704_067_200_000_000
USERS_PER_CHUNK = 2_000  # users whose events are shuffled together (arrival != timestamp order)
WRITE_BATCH = 5_000  # events per write transaction while building the store
LATE_SHARE, CONFLICT_SHARE, STRAY_SHARE, HEAVY_SHARE = 0.01, 0.015, 0.1, 0.005
PLACEHOLDERS = ("undefined", "guest")

#: An install's properties (campaign_id and channel at least), drawn with the generator's rng.
Attribution = Callable[[random.Random], dict[str, Any]]


def identity_attribution(rng: random.Random) -> dict[str, Any]:
    """The identity bench's installs: one of 500 campaigns, a channel drawn apart from it."""
    return {
        "campaign_id": f"cmp_{rng.randrange(500)}",
        "channel": rng.choice(("meta", "google_ads", "tiktok", "organic")),
        "country": "US",
    }


@dataclass(frozen=True, slots=True)
class Shape:
    """What the generated people look like beyond their structure."""

    first_us: int = YEAR_2024_US  # the earliest day a user starts on
    days: int = 300  # users start on one of this many days
    attribution: Attribution = identity_attribution
    offers: int = 0  # trial and subscription starts name one of this many offers (0: none)
    eur_share: float = 0.0  # users who pay in EUR rather than USD
    # False: a chunk of users' whole lives arrive together (a person's events share a few
    # projector batches); True: everyone's events arrive in timestamp order, as live traffic
    # does (a person's events are spread over the whole log, one or two per batch).
    by_time: bool = False


@dataclass(slots=True)
class UserPlan:
    """How many events of each kind one user gets (drawn first, so the total is exact)."""

    user: str
    devices: int  # anonymous ids that log in: 1-3
    anon_extra: int  # anonymous events on the first device beyond install and paywall
    lifecycle: int  # 0 none, 1 trial, 2 trial then paid, 3 paid
    renewals: int
    refund: bool
    cancel: bool
    stray: bool  # one more device that never logs in: an anonymous visitor
    borrow: bool  # a link from an earlier user's anonymous id: a conflict
    extras: int
    start_us: int
    currency: str = "USD"  # of their payments

    @property
    def core(self) -> int:
        paid = self.lifecycle >= 2
        return (
            3 * self.devices
            + self.anon_extra
            + (self.lifecycle in (1, 2))
            + paid
            + (self.renewals + self.refund + self.cancel) * paid
            + 2 * self.stray
            + self.borrow
        )


def _plan(rng: random.Random, index: int, normal_extras: int, shape: Shape) -> UserPlan:
    lifecycle = rng.choices((0, 1, 2, 3), weights=(50, 25, 15, 10))[0]
    heavy = rng.random() < HEAVY_SHARE
    return UserPlan(
        user=f"usr_{index:08d}",
        devices=rng.choices((1, 2, 3), weights=(60, 30, 10))[0],
        anon_extra=rng.randrange(3),
        lifecycle=lifecycle,
        renewals=rng.randrange(5),
        refund=rng.random() < 0.1,
        cancel=rng.random() < 0.3,
        stray=rng.random() < STRAY_SHARE,
        borrow=index > USERS_PER_CHUNK and rng.random() < CONFLICT_SHARE,
        extras=rng.randint(100, 500) if heavy else rng.randint(0, normal_extras),
        start_us=shape.first_us + rng.randrange(shape.days * DAY_US),
        # Drawn only when some pay in EUR: the default shape draws what it always drew.
        currency="EUR" if shape.eur_share and rng.random() < shape.eur_share else "USD",
    )


def plan_users(
    rng: random.Random, users: int, events: int, shape: Shape = Shape()
) -> list[UserPlan]:
    """``users`` plans whose events add up to exactly ``events`` (extras moved to fit)."""
    normal_extras = max(0, round(2 * (events / users - 8.5)))
    plans = [_plan(rng, i, normal_extras, shape) for i in range(users)]
    diff = events - sum(p.core + p.extras for p in plans)
    if diff < -sum(p.extras for p in plans):
        raise SystemExit(f"--events {events:,} is too few for {users:,} users")
    while diff > 0:
        rng.choice(plans).extras += 1
        diff -= 1
    while diff < 0:
        plan = rng.choice(plans)
        if plan.extras:
            plan.extras -= 1
            diff += 1
    return plans


class Events:
    """One user's events as JSON documents, made from their plan."""

    def __init__(
        self, rng: random.Random, plan: UserPlan, borrowed: str | None, shape: Shape
    ) -> None:
        self.rng, self.plan, self.borrowed, self.shape = rng, plan, borrowed, shape
        self.docs: list[dict[str, Any]] = []
        self.serial = 0

    def add(self, name: str, ts: int, user: str | None, anon: str | None, **props: Any) -> None:
        serial = f"{self.plan.user}_{self.serial}"
        self.serial += 1
        doc: dict[str, Any] = {"event": name, "timestamp": _iso(ts), "insert_id": f"i{serial}"}
        if user is not None:
            doc["user_id"] = user
        if anon is not None:
            doc["anonymous_id"] = anon
        if name in ("subscription_started", "renewal_completed", "refund_issued"):
            props |= {
                "revenue": 49.99,
                "currency": self.plan.currency,
                "transaction_id": f"txn_{serial}",
            }
        if props:
            doc["properties"] = props
        self.docs.append(doc)

    def build(self) -> list[dict[str, Any]]:
        p, rng = self.plan, self.rng
        anons = anonymous_ids(p)
        links = [
            self._device(anon, p.start_us + k * rng.randrange(10 * DAY_US), True)
            for k, anon in enumerate(anons)
        ]
        for _ in range(p.anon_extra):
            self.add("app_opened", p.start_us + rng.randrange(DAY_US), None, anons[0])
        if p.stray:
            self._device(f"anon_{p.user[4:]}_s", p.start_us + rng.randrange(30 * DAY_US), False)
        if p.borrow:
            assert self.borrowed is not None
            ts = p.start_us + rng.randrange(30 * DAY_US)
            self.add("onboarding_started", ts, p.user, self.borrowed)
        self._lifecycle(links[0])
        for _ in range(p.extras):
            self._extra(anons)
        return self.docs

    def _device(self, anon: str, install: int, logs_in: bool) -> int:
        rng = self.rng
        self.add(
            "install_attributed",
            install,
            None,
            anon,
            **self.shape.attribution(rng),
        )
        viewed = install + rng.randrange(1_000_000, 600_000_000)
        self.add("paywall_viewed", viewed, rng.choice(PLACEHOLDERS), anon, paywall_id="pw_1")
        if not logs_in:
            return viewed
        link = viewed + rng.randrange(60_000_000, 3_600_000_000)
        name = "user_created" if anon.endswith("_0") else "onboarding_started"
        self.add(name, link, self.plan.user, anon)
        return link

    def _offer(self) -> dict[str, Any]:
        """The offer and paywall a user's trial and subscription start name (none by default)."""
        if not self.shape.offers:
            return {}
        offer = f"offer_{self.rng.randrange(self.shape.offers)}"
        return {"offer_id": offer, "paywall_id": f"pw_{self.rng.randrange(4)}"}

    def _lifecycle(self, link: int) -> None:
        p, rng, user = self.plan, self.rng, self.plan.user
        plan_id = rng.choice(("plan_annual_usd", "plan_monthly_usd"))
        at = link + rng.randrange(3 * DAY_US)
        offer = self._offer()
        if p.lifecycle in (1, 2):
            self.add("trial_started", at, user, None, plan_id=plan_id, **offer)
            at += 7 * DAY_US
        if p.lifecycle < 2:
            return
        self.add("subscription_started", at, user, None, plan_id=plan_id, **offer)
        for n in range(p.renewals):
            self.add("renewal_completed", at + (n + 1) * 30 * DAY_US, user, None, plan_id=plan_id)
        if p.refund:
            self.add("refund_issued", at + rng.randrange(1, 20) * DAY_US, user, None)
        if p.cancel:
            ts = at + (p.renewals * 30 + rng.randrange(1, 25)) * DAY_US
            self.add("subscription_cancelled", ts, user, None, plan_id=plan_id)

    def _extra(self, anons: list[str]) -> None:
        rng, user = self.rng, self.plan.user
        ts = self.plan.start_us + rng.randrange(90 * DAY_US)
        roll = rng.random()
        anon = rng.choice(anons) if roll < 0.2 else "undefined" if roll < 0.23 else None
        kind = rng.random()
        if kind < 0.4:
            self.add("paywall_viewed", ts, user, anon, paywall_id=f"pw_{rng.randrange(20)}")
        elif kind < 0.5:
            self.add("plan_changed", ts, user, anon, plan_id="plan_monthly_usd")
        elif kind < 0.8:
            self.add("app_opened", ts, user, anon, screen=f"s{rng.randrange(30)}")
        else:
            self.add("activation_completed", ts, user, anon)


def _iso(ts_us: int) -> str:
    seconds, micros = divmod(ts_us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def anonymous_ids(plan: UserPlan) -> list[str]:
    """The anonymous ids a user logs in from."""
    return [f"anon_{plan.user[4:]}_{k}" for k in range(plan.devices)]


def generate(
    writer: Writer, plans: list[UserPlan], rng: random.Random, shape: Shape = Shape()
) -> int:
    """Every planned user's events, written chunk by chunk in arrival order (or, with
    ``shape.by_time``, all of them in timestamp order); how many."""
    late: list[tuple[int, dict[str, Any]]] = []  # (chunk it arrives with, event)
    chunks = _chunks(plans, rng, shape)
    if shape.by_time:
        every = sorted((doc for docs in chunks for doc in docs), key=_timestamp)
        for first in range(0, len(every), WRITE_BATCH):
            writer.write(every[first : first + WRITE_BATCH])
        return writer.written
    for chunk, docs in enumerate(chunks):
        writer.write(_arrival_order(rng, docs, late, chunk))
    writer.write([doc for _, doc in late])
    return writer.written


def _chunks(
    plans: list[UserPlan], rng: random.Random, shape: Shape
) -> Iterator[list[dict[str, Any]]]:
    """Each chunk's events, drawn as the caller asks for them (the caller's own draws come
    between chunks, so a seed gives the same events as before this was a generator)."""
    pool: deque[str] = deque(maxlen=20_000)  # earlier users' anonymous ids, to borrow
    for first in range(0, len(plans), USERS_PER_CHUNK):
        docs: list[dict[str, Any]] = []
        for plan in plans[first : first + USERS_PER_CHUNK]:
            borrowed = pool[rng.randrange(len(pool))] if plan.borrow else None
            docs += Events(rng, plan, borrowed, shape).build()
        pool.extend(
            a for plan in plans[first : first + USERS_PER_CHUNK] for a in anonymous_ids(plan)
        )
        yield docs


def _timestamp(doc: dict[str, Any]) -> str:
    return str(doc["timestamp"])


def _arrival_order(
    rng: random.Random,
    docs: list[dict[str, Any]],
    late: list[tuple[int, dict[str, Any]]],
    chunk: int,
) -> list[dict[str, Any]]:
    """The chunk's events shuffled, some held back to arrive 1-10 chunks later, and the late
    ones due now."""
    now = [doc for due, doc in late if due <= chunk]
    late[:] = [(due, doc) for due, doc in late if due > chunk]
    for doc in docs:
        if rng.random() < LATE_SHARE:
            late.append((chunk + rng.randint(1, 10), doc))
        else:
            now.append(doc)
    rng.shuffle(now)
    return now


class Writer:
    """Validates events with the project's Validator and writes them with the store's writer."""

    def __init__(self, store: SqliteStore, workspace_id: int, label: str) -> None:
        self.store, self.workspace_id, self.label = store, workspace_id, label
        self.validator = Validator(Settings())
        self.written = 0

    def write(self, docs: list[dict[str, Any]]) -> None:
        now = time.time_ns() // 1000
        valid: list[ValidEvent] = []
        for i, doc in enumerate(docs):
            checked = self.validator.check(json.dumps(doc).encode(), i, now)
            if not isinstance(checked, ValidEvent):
                raise SystemExit(f"generated an invalid event ({checked.reason}): {doc}")
            valid.append(checked)
        batches = [valid[i : i + WRITE_BATCH] for i in range(0, len(valid), WRITE_BATCH)]
        write_batches(self.store, self.workspace_id, batches)
        before, self.written = self.written, self.written + len(valid)
        if self.written // 500_000 > before // 500_000:
            print(f"  {self.label}: {self.written:,} events", flush=True)
