"""Spend rows, exchange rates and the reporting currency (analytics.md §3, §4), on every backend;
the CLI's `spend import` and `workspaces set-currency` against a real server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from conftest import Api
from server import FLOKIT, Server, cli

ROW = {"date": "2024-03-01", "channel": "meta", "campaign_id": "c1", "spend": 100.5}


def spend(api: Api, rows: list[Any], key: str | None = None) -> Any:
    return api.client.post("/v1/spend", json={"rows": rows}, headers=api.headers(key))


def listed(api: Api, start: str = "2024-03-01", end: str = "2024-03-31") -> Any:
    answer = api.client.get(
        f"/v1/spend?start_date={start}&end_date={end}", headers=api.headers(api.ro)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_spend_rows_are_upserted_by_their_dimensions(api: Api) -> None:
    first = spend(api, [ROW, {**ROW, "ad_set_id": "as1", "country": "DE", "spend": 7}])
    assert first.json() == {"status": "ok", "accepted": 2, "rejected": 0, "errors": []}
    restated = spend(api, [{**ROW, "spend": 80}, {**ROW, "date": "2024-03-02", "spend": 1}])
    assert restated.json()["accepted"] == 2
    rows = listed(api)["rows"]
    assert [(r["date"], r["ad_set_id"], r["country"], r["spend"]) for r in rows] == [
        ("2024-03-01", None, None, 80.0),
        ("2024-03-01", "as1", "DE", 7.0),
        ("2024-03-02", None, None, 1.0),
    ]
    assert rows[0]["currency"] == "USD" and listed(api)["currency"] == "USD"
    assert listed(api, "2024-03-02", "2024-03-02")["rows"][0]["spend"] == 1.0


def test_bad_spend_rows_are_named_and_the_good_ones_kept(api: Api) -> None:
    bad = [
        {**ROW, "date": "2024-02-30"},
        {**ROW, "spend": -1},
        {**ROW, "spend": True},
        {**ROW, "spend": 1e300},  # more than an int64 of millionths: was a 500
        {"date": "2024-03-01", "channel": "meta", "spend": 1},
        {**ROW, "currency": "usd"},
        {**ROW, "country": "Germany"},
        {**ROW, "cost": 1},
        "not a row",
    ]
    answer = spend(api, [*bad, {**ROW, "campaign_id": "good"}]).json()
    assert (answer["accepted"], answer["rejected"]) == (1, len(bad))
    fields = [e["field"] for e in answer["errors"]]
    assert fields == [
        "date",
        "spend",
        "spend",
        "spend",
        "campaign_id",
        "currency",
        "country",
        "cost",
        None,
    ]
    assert [e["index"] for e in answer["errors"]] == list(range(len(bad)))
    assert [r["campaign_id"] for r in listed(api)["rows"]] == ["good"]


def test_spend_requests_refused_whole(api: Api) -> None:
    assert spend(api, [ROW], key=api.ro).status_code == 403
    too_many = spend(api, [ROW] * 10_001)
    assert too_many.status_code == 400 and too_many.json()["field"] == "rows"
    for body in ({"rows": []}, {"rows": "x"}, {}):
        answer = api.client.post("/v1/spend", json=body, headers=api.headers())
        assert answer.status_code == 400 and answer.json()["field"] == "rows"
    cases = {
        "start_date=2024-03-01": "end_date",
        "start_date=2024-13-01&end_date=2024-03-01": "start_date",
        "start_date=2024-03-02&end_date=2024-03-01": "end_date",
        "start_date=2000-01-01&end_date=2024-03-01": "end_date",
        "start_date=2024-03-01&end_date=2024-03-01&x=1": "x",
    }
    for query, field in cases.items():
        answer = api.client.get(f"/v1/spend?{query}", headers=api.headers())
        assert answer.status_code == 400 and answer.json()["field"] == field, query


def test_fx_rates_are_checked_and_upserted(api: Api) -> None:
    rows = [
        {"date": "2024-03-01", "currency": "EUR", "rate": 1.1},
        {"date": "2024-03-01", "currency": "EUR", "rate": 0},
        {"date": "2024-03-01", "rate": 2},
        {"date": "2024-03-01", "currency": "GBP", "rate": 1.3, "base": "EUR"},
    ]
    answer = api.client.post("/v1/fx-rates", json={"rows": rows}, headers=api.headers()).json()
    assert (answer["accepted"], answer["rejected"]) == (2, 2)
    assert [e["field"] for e in answer["errors"]] == ["rate", "currency"]
    again = api.client.post("/v1/fx-rates", json={"rows": rows[:1]}, headers=api.headers())
    assert again.json()["accepted"] == 1


def test_cli_sets_the_currency_and_imports_a_spend_csv(tmp_path: Path) -> None:
    db = tmp_path / "spend.db"
    created = cli(db, "workspaces", "create", "w")
    key, workspace = created["api_key"], created["workspace_id"]
    assert "EUR" in cli(db, "workspaces", "set-currency", workspace, "EUR", json_output=False)
    data = tmp_path / "spend.csv"
    lines = ["date,channel,campaign_id,ad_set_id,spend,currency"]
    lines += [f"2024-03-{d:02},meta,c{d % 3},,{d}.5," for d in range(1, 29)]
    lines += ["2024-03-29,meta,c1,,lots,", "2024-03-01,meta,c1,,2.0,USD"]
    data.write_text("\n".join(lines) + "\n")
    server = Server(db)
    try:
        done = subprocess.run(
            [*FLOKIT, "spend", "import", str(data), "--url", server.url, "--key", key],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "120"},
        )
        got = server_spend(server.url, key)
    finally:
        server.stop()
    assert done.returncode == 1, done.stderr
    assert "stored: 29, refused: 1" in done.stdout and "line 30: spend" in done.stdout
    assert len(got["rows"]) == 28 and got["currency"] == "EUR"
    first = got["rows"][0]
    assert (first["spend"], first["currency"]) == (2.0, "USD")  # restated by the later line
    assert {r["currency"] for r in got["rows"][1:]} == {"EUR"}


def server_spend(url: str, key: str) -> Any:
    import httpx

    answer = httpx.get(
        f"{url}/v1/spend?start_date=2024-03-01&end_date=2024-03-31",
        headers={"Authorization": f"Bearer {key}"},
    )
    return answer.json()
