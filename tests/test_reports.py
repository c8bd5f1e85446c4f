"""The reports' API: parameters refused by name, the answer's meta, a refund that arrives
before its purchase, and how far behind ingest a report is (on every backend)."""

from __future__ import annotations

from typing import Any

import pytest
from readmodels import project_all

from flokit.settings import Settings

from conftest import Api, settings_for

PAYBACK = "/v1/reports/payback?start_date=2024-03-01&end_date=2024-03-31"
COHORTS = "/v1/reports/cohorts?cohort_start=2024-03-01&cohort_end=2024-03-31"


@pytest.fixture
def settings(backend: str, request: pytest.FixtureRequest) -> Settings:
    return settings_for(backend, request, projector=False)


def ev(name: str, user: str, ts: str, **props: Any) -> dict[str, Any]:
    return {"event": name, "user_id": user, "timestamp": f"2024-{ts}:00Z", "properties": props}


def paid(user: str, ts: str, txn: str, amount: float = 10) -> dict[str, Any]:
    money = {"revenue": amount, "currency": "USD", "transaction_id": txn}
    return ev("subscription_started", user, ts, plan_id="p", **money)


def get(api: Api, path: str) -> Any:
    answer = api.client.get(path, headers=api.headers(api.ro))
    assert answer.status_code == 200, answer.text
    return answer.json()


def send(api: Api, *events: dict[str, Any]) -> None:
    assert api.batch(list(events)).json()["accepted"] == len(events)
    project_all(api.store)


def test_bad_parameters_are_named(api: Api) -> None:
    cases = {
        "/v1/reports/payback?end_date=2024-03-01": "start_date",
        "/v1/reports/payback?start_date=2024-3-1&end_date=2024-03-01": "start_date",
        "/v1/reports/payback?start_date=2024-03-02&end_date=2024-03-01": "end_date",
        "/v1/reports/payback?start_date=2000-03-02&end_date=2024-03-01": "end_date",
        f"{PAYBACK}&group_by=planet": "group_by",
        f"{PAYBACK}&cohort_window_days=0": "cohort_window_days",
        f"{PAYBACK}&cohort_window_days=-5": "cohort_window_days",
        f"{PAYBACK}&cohort_window_days=100000": "cohort_window_days",
        f"{PAYBACK}&cohort_window_days=3.5": "cohort_window_days",
        f"{PAYBACK}&window=3": "window",
        "/v1/reports/cohorts?cohort_start=2024-03-01": "cohort_end",
        "/v1/reports/cohorts?cohort_start=x&cohort_end=2024-03-01": "cohort_start",
        f"{COHORTS}&group_by=": "group_by",
        f"{COHORTS}&weeks=0": "weeks",
        f"{COHORTS}&weeks=105": "weeks",
    }
    for path, field in cases.items():
        answer = api.client.get(path, headers=api.headers(api.ro))
        assert answer.status_code == 400, path
        assert answer.json()["field"] == field, (path, answer.json())
    assert api.client.get(PAYBACK).status_code == 401


def test_meta_says_what_the_report_saw(api: Api) -> None:
    empty = get(api, PAYBACK)
    assert empty["rows"] == [] and empty["meta"]["as_of"] == 0
    send(api, ev("install_attributed", "u1", "03-02T10:00", campaign_id="c1", channel="meta"))
    meta = get(api, f"{PAYBACK}&cohort_window_days=45")["meta"]
    assert meta["as_of"] > 0 and meta["latest_event_at"] == "2024-03-02T10:00:00Z"
    assert (meta["currency"], meta["cohort_window_days"], meta["group_by"]) == (
        "USD",
        45,
        "campaign",
    )
    assert meta["unconverted_events"] == 0 and "renewal" in meta["ltv_method"]
    assert meta["generated_at"].endswith("Z")
    assert get(api, COHORTS)["meta"]["as_of"] == meta["as_of"]


def test_a_refund_that_arrives_first_moves_to_its_purchase_day(api: Api) -> None:
    """u1's refund names u2's purchase, which arrives later in a batch of u2's alone: u1's
    cohort loses the revenue on the purchase's day, not the refund's."""
    install = ev("install_attributed", "u1", "03-04T10:00", campaign_id="c1", channel="meta")
    refund = ev(
        "refund_issued", "u1", "03-30T10:00", revenue=4, currency="USD", transaction_id="t9"
    )
    send(api, install, paid("u1", "03-05T10:00", "t1"), refund)
    weeks = get(api, COHORTS)["cohorts"][0]["weeks"]
    assert [w["cumulative_net_revenue"] for w in weeks[:4]] == [10.0, 10.0, 10.0, 6.0]
    send(api, paid("u2", "03-11T10:00", "t9"))
    u1 = next(c for c in get(api, COHORTS)["cohorts"] if c["group"] == "c1")
    assert [w["cumulative_net_revenue"] for w in u1["weeks"][:4]] == [10.0, 6.0, 6.0, 6.0]
    rows = {r["group"]: r for r in get(api, f"{PAYBACK}&cohort_window_days=10")["rows"]}
    assert rows["c1"]["revenue_30d"] == 6.0 and rows["(unattributed)"]["revenue_30d"] == 10.0
