"""The reports against a second implementation (reports_oracle.py): generated workspaces with
installs, anonymous ids linked later (and conflicting), placeholder ids, trials, conversions,
renewals, cancellations, refunds (of known and unknown transactions), several currencies with
and without rates, restated spend and events arriving out of order in several batches, each
projected before the next arrives. Every field of every row must match, on every backend."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from readmodels import project_all
from reports_oracle import Workspace, cohort_curves, day_number, iso_day, payback

from flokit.model import KeyKind
from flokit.settings import Settings

from conftest import Api, settings_for

BASE = day_number("2024-03-01")
USERS = ["u1", "u2", "u3", "u4"]
ANONS = ["a1", "a2", "a3", "a4", "a5"]
CURRENCIES = ["USD", "EUR", "GBP"]
GROUPS = ["campaign", "creative", "country", "offer", "paywall", "channel", "ad_set"]
TOLERANCE = 1e-5


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest) -> Settings:
    return settings_for(backend, request, projector=False)


def stamp(day: int, hour: int) -> str:
    return f"{iso_day(BASE + day)}T{hour:02}:00:00Z"


moments = st.tuples(st.integers(-3, 50), st.integers(0, 23))
KINDS = [
    *("install", "install", "link", "trial", "paid", "paid", "renewal", "cancel"),
    *("refund", "refund_unknown", "anon_view", "guest_paid"),
]


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events of a few people; transaction ids unique, each refunded at most once."""
    made: list[dict[str, Any]] = []
    txns = itertools.count(1)
    gross: list[str] = []
    for _ in range(draw(st.integers(1, 28))):
        kind = draw(st.sampled_from(KINDS))
        day, hour = draw(moments)
        user, anon = draw(st.sampled_from(USERS)), draw(st.sampled_from(ANONS))
        base: dict[str, Any] = {"timestamp": stamp(day, hour)}
        if kind == "install":
            who = draw(st.sampled_from(["user", "anon", "both"]))
            props = {
                "campaign_id": draw(st.sampled_from(["c1", "c2"])),
                "channel": draw(st.sampled_from(["meta", "tiktok"])),
            }
            for name, values in (("ad_set_id", ["s1", "s2"]), ("creative_id", ["k1"])):
                if (value := draw(st.none() | st.sampled_from(values))) is not None:
                    props[name] = value
            if (country := draw(st.none() | st.sampled_from(["US", "DE"]))) is not None:
                props["country"] = country
            ids = {"user": {"user_id": user}, "anon": {"anonymous_id": anon}}.get(
                who, {"user_id": user, "anonymous_id": anon}
            )
            made.append({"event": "install_attributed", **base, **ids, "properties": props})
        elif kind in ("link", "anon_view"):
            ids = {"anonymous_id": anon}
            if kind == "link":
                ids["user_id"] = user
            made.append({"event": "screen_viewed", **base, **ids, "properties": {}})
        elif kind == "trial":
            props = {"plan_id": "p1"}
            props.update(_offer(draw))
            made.append({"event": "trial_started", **base, "user_id": user, "properties": props})
        elif kind in ("paid", "renewal", "guest_paid"):
            txn = f"t{next(txns)}"
            gross.append(txn)
            props = {"plan_id": "p1", "transaction_id": txn, **_money(draw)}
            name = "renewal_completed" if kind == "renewal" else "subscription_started"
            if name == "subscription_started":
                props.update(_offer(draw))
            ids = (
                {"user_id": "guest", "anonymous_id": anon}
                if kind == "guest_paid"
                else {"user_id": user}
            )
            made.append({"event": name, **base, **ids, "properties": props})
        elif kind == "cancel":
            made.append(
                {
                    "event": "subscription_cancelled",
                    **base,
                    "user_id": user,
                    "properties": {"plan_id": "p1"},
                }
            )
        else:
            txn = f"x{next(txns)}" if kind == "refund_unknown" else None
            made.append(
                {
                    "event": "refund_issued",
                    **base,
                    "user_id": user,
                    "properties": {"transaction_id": txn, **_money(draw)},
                }
            )
    # Refunds of known transactions name one of the purchases, each at most once.
    unrefunded = list(gross)
    for event in made:
        if event["event"] == "refund_issued" and event["properties"]["transaction_id"] is None:
            if unrefunded:
                pick = draw(st.sampled_from(unrefunded))
                unrefunded.remove(pick)
            else:
                pick = f"y{next(txns)}"
            event["properties"]["transaction_id"] = pick
    return made


def _offer(draw: st.DrawFn) -> dict[str, str]:
    found = {}
    if (offer := draw(st.none() | st.sampled_from(["o1", "o2"]))) is not None:
        found["offer_id"] = offer
    if (paywall := draw(st.none() | st.sampled_from(["pw1"]))) is not None:
        found["paywall_id"] = paywall
    return found


def _money(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "revenue": draw(st.sampled_from([0, 4.99, 9.99, 30])),
        "currency": draw(st.sampled_from(CURRENCIES)),
    }


spend_rows = st.lists(
    st.fixed_dictionaries(
        {
            "date": st.integers(-3, 50).map(lambda d: iso_day(BASE + d)),
            "channel": st.sampled_from(["meta", "tiktok"]),
            "campaign_id": st.sampled_from(["c1", "c2"]),
            "spend": st.sampled_from([0, 1.5, 10, 25.25]),
        },
        optional={
            "ad_set_id": st.sampled_from(["s1", "s2"]),
            "country": st.sampled_from(["US", "DE"]),
            "currency": st.sampled_from(CURRENCIES),
        },
    ),
    max_size=12,
)
rate_rows = st.lists(
    st.fixed_dictionaries(
        {
            "date": st.integers(-3, 50).map(lambda d: iso_day(BASE + d)),
            "currency": st.sampled_from(CURRENCIES),
            "rate": st.sampled_from([0.5, 1.25, 2]),
        },
        optional={"base": st.sampled_from(CURRENCIES)},
    ),
    max_size=40,
)
queries = st.tuples(
    st.integers(-3, 40),
    st.integers(0, 30),
    st.sampled_from(GROUPS),
    st.integers(1, 60),
    st.integers(1, 10),
)


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    sent=events(),
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 28), max_size=2),
    spend=st.tuples(spend_rows, spend_rows),
    rates=rate_rows,
    currency=st.sampled_from(["USD", "EUR"]),
    asked=st.lists(queries, min_size=1, max_size=3),
)
def test_reports_match_the_reference_computation(
    api: Api,
    sent: list[dict[str, Any]],
    order: Any,
    cuts: list[int],
    spend: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    rates: list[dict[str, Any]],
    currency: str,
    asked: list[tuple[int, int, str, int, int]],
) -> None:
    workspace, issued = api.store.create_workspace("oracle")
    api.store.set_reporting_currency(workspace, currency)
    key = api.store.create_key(workspace, KeyKind.READ_ONLY).secret
    reference = Workspace(currency=currency)
    shuffled = list(sent)
    order.shuffle(shuffled)  # arrival order is not timestamp order
    bounds = sorted({0, *(min(c, len(shuffled)) for c in cuts), len(shuffled)})
    for lo, hi in itertools.pairwise(bounds):
        answer = api.batch(shuffled[lo:hi], key=issued.secret).json()
        assert answer["accepted"] == hi - lo and not answer["duplicates"], answer
        reference.send_events(shuffled[lo:hi])
        project_all(api.store)  # each batch lands on what the previous ones built
    for rows in spend:  # the second list restates days of the first
        if rows:
            post(api, "/v1/spend", rows, issued.secret)
            reference.send_spend(rows)
    other = "EUR" if currency == "USD" else "USD"  # a rate for it every day; GBP's are sparse
    daily = [{"date": iso_day(BASE + d), "currency": other, "rate": 1.25} for d in range(-3, 51)]
    for rows in (daily, rates):  # the generated rates restate some of the daily ones
        if rows:
            post(api, "/v1/fx-rates", rows, issued.secret)
            reference.send_rates(rows)
    for start, length, group_by, window, weeks in asked:
        first, last = iso_day(BASE + start), iso_day(BASE + start + length)
        check_payback(api, key, reference, first, last, group_by, window)
        check_cohorts(api, key, reference, first, last, group_by, weeks)


def post(api: Api, path: str, rows: list[dict[str, Any]], key: str) -> None:
    answer = api.client.post(path, json={"rows": rows}, headers=api.headers(key)).json()
    assert answer["rejected"] == 0, answer


def check_payback(
    api: Api, key: str, ws: Workspace, first: str, last: str, group_by: str, window: int
) -> None:
    query = f"start_date={first}&end_date={last}&group_by={group_by}&cohort_window_days={window}"
    got = api.client.get(f"/v1/reports/payback?{query}", headers=api.headers(key))
    assert got.status_code == 200, got.text
    body = got.json()
    want = payback(ws, day_number(first), day_number(last), group_by, window)
    assert {r["group"]: r for r in body["rows"]}.keys() == want["rows"].keys(), query
    for row in body["rows"]:
        same(row, want["rows"][row["group"]], f"{query} {row['group']}")
    assert body["meta"]["unconverted_events"] == want["unconverted_events"], query
    assert body["meta"]["currency"] == ws.currency


def check_cohorts(
    api: Api, key: str, ws: Workspace, first: str, last: str, group_by: str, weeks: int
) -> None:
    query = f"cohort_start={first}&cohort_end={last}&group_by={group_by}&weeks={weeks}"
    got = api.client.get(f"/v1/reports/cohorts?{query}", headers=api.headers(key))
    assert got.status_code == 200, got.text
    body = got.json()
    want = cohort_curves(ws, day_number(first), day_number(last), group_by, weeks)
    found = {(c["group"], c["cohort_week"]): c for c in body["cohorts"]}
    assert found.keys() == want["cohorts"].keys(), query
    for slot, cohort in found.items():
        same(cohort, want["cohorts"][slot], f"{query} {slot}")
    assert body["meta"]["unconverted_events"] == want["unconverted_events"], query


def same(got: Any, want: Any, where: str) -> None:
    """Equal, numbers within the rounding of the API's 6 decimals."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for name in want:
            same(got[name], want[name], f"{where}.{name}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            same(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got is not None and abs(got - want) <= TOLERANCE, f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def _event(name: str, day: int, user: str | None, anon: str | None, **props: Any) -> dict[str, Any]:
    ids = {k: v for k, v in (("user_id", user), ("anonymous_id", anon)) if v is not None}
    return {"event": name, "timestamp": stamp(day, 12), **ids, "properties": props}


_PAID = {"plan_id": "p1", "transaction_id": "t1", "revenue": 9.99, "currency": "USD"}
#: Batches, each projected before the next, where a later batch changes what a person's cohort
#: rows depend on without bringing them a revenue or lifecycle event: the projector must still
#: recompute those rows (it skips people whose cohort inputs did not change).
LATER_BATCHES = {
    "an install after the person's first events": [
        [
            _event("app_opened", 1, "u1", None),
            _event("subscription_started", 2, "u1", None, **_PAID),
        ],
        [_event("install_attributed", 4, "u1", None, campaign_id="c1", channel="meta")],
    ],
    "an earlier first event, no install": [
        [
            _event("app_opened", 6, "u1", None),
            _event("subscription_started", 7, "u1", None, **_PAID),
        ],
        [_event("app_opened", 1, "u1", None)],
    ],
    "an anonymous install linked later": [
        [
            _event("app_opened", 1, "u1", None),
            _event("subscription_started", 2, "u1", None, **_PAID),
            _event("install_attributed", 3, None, "a1", campaign_id="c2", channel="tiktok"),
        ],
        [_event("app_opened", 4, "u1", "a1")],
    ],
}


@pytest.mark.parametrize("batches", LATER_BATCHES.values(), ids=list(LATER_BATCHES))
def test_later_batches_move_a_person_between_cohorts(
    api: Api, batches: list[list[dict[str, Any]]]
) -> None:
    workspace, issued = api.store.create_workspace("later")
    key = api.store.create_key(workspace, KeyKind.READ_ONLY).secret
    reference = Workspace(currency="USD")
    for batch in batches:
        assert api.batch(batch, key=issued.secret).json()["accepted"] == len(batch)
        reference.send_events(batch)
        project_all(api.store)
    first, last = iso_day(BASE), iso_day(BASE + 10)
    for group_by in ("campaign", "channel"):
        check_payback(api, key, reference, first, last, group_by, 30)
        check_cohorts(api, key, reference, first, last, group_by, 2)
