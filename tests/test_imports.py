"""CSV imports over the API (contract §10): rows, errors, order, duplicates, bad files."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imports_helpers import csv_rows, wait_done
from starlette.testclient import TestClient

from flokit.app import build_app
from flokit.imports import job as job_module
from flokit.imports.validation import split_rows
from flokit.settings import Settings
from flokit.store import open_store

from conftest import Api

GOOD = [
    "paywall_viewed,2024-03-15T14:20:00Z,u1,,,,pw1,,,,",
    'subscription_started,2024-03-10T09:00:00+01:00,u1,,,"{""store"": ""apple"", ""n"": 1}",'
    ",plan,49.99,USD,t1",
    "trial_started,2024-03-12T00:00:00Z,u2,,ins-1,,,plan,,,",
]
BAD = [
    "subscription_started,2024-03-10T14:20:00Z,u1,,,,,plan,49.99,,t2",  # no currency
    "trial_started,2024-03-01,u1,,,,,plan,,,",  # date only
    "paywall_viewed,2024-03-15T14:20:00Z",  # ragged
    "custom,2024-03-15T14:20:00Z,u3,,,{not json,,,,,",  # properties not JSON
]


def upload(api: Api, body: bytes, key: str | None = None, query: str = "", **headers: str) -> Any:
    sent = {"Authorization": f"Bearer {key or api.rw}", "Content-Type": "text/csv", **headers}
    return api.client.post(f"/v1/imports{query}", content=body, headers=sent)


def get(api: Api) -> Any:
    return lambda path: api.client.get(path, headers=api.headers())


def run(api: Api, body: bytes, **kwargs: Any) -> dict[str, Any]:
    response = upload(api, body, **kwargs)
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/v1/imports/{response.json()['import_id']}"
    return wait_done(get(api), response.json()["import_id"])


def stored(api: Api) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = api.client.get(
        "/v1/events?limit=1000", headers=api.headers()
    ).json()["events"]
    return events[::-1]  # in the order they were stored


def test_good_and_bad_rows(api: Api) -> None:
    job = run(api, csv_rows(*GOOD, *BAD))
    assert (
        job["status"],
        job["rows_total"],
        job["accepted"],
        job["rejected"],
        job["duplicates"],
    ) == ("completed", 7, 3, 4, 0)
    assert job["errors"] == [
        {"row": 4, "event": "subscription_started", "reason": "Missing required field: currency"},
        {
            "row": 5,
            "event": "trial_started",
            "reason": "Invalid field: timestamp must be an ISO 8601 "
            "date-time with a timezone, like 2024-03-15T14:20:00Z",
        },
        {"row": 6, "event": "paywall_viewed", "reason": "Row has 2 cells; the header has 11"},
        {"row": 7, "event": "custom", "reason": "Invalid field: properties must be a JSON object"},
    ]
    assert job["started_at"] and job["finished_at"]


def test_a_file_of_only_bad_rows_completes_with_nothing_stored(api: Api) -> None:
    job = run(api, csv_rows(*BAD))
    assert (job["status"], job["accepted"], job["rejected"]) == ("completed", 0, len(BAD))
    assert stored(api) == []


def test_errors_csv_holds_every_rejected_row_as_it_was(api: Api) -> None:
    job = run(api, csv_rows(*GOOD, *BAD))
    response = api.client.get(job["errors_url"], headers=api.headers())
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][-2:] == ["row", "reason"]
    assert [r[-2] for r in rows[1:]] == ["4", "5", "6", "7"]
    assert rows[1][:-2] == next(csv.reader([BAD[0]]))
    assert rows[3][:-2] == ["paywall_viewed", "2024-03-15T14:20:00Z"]


def test_events_are_stored_in_timestamp_order_and_read_back_coerced(api: Api) -> None:
    run(api, csv_rows(*GOOD))
    events = stored(api)
    assert [e["event"] for e in events] == [
        "subscription_started",
        "trial_started",
        "paywall_viewed",
    ]
    subscription = events[0]
    assert subscription["timestamp"] == "2024-03-10T08:00:00Z"
    assert subscription["properties"] == {
        "store": "apple",
        "n": 1,
        "plan_id": "plan",
        "revenue": 49.99,
        "currency": "USD",
        "transaction_id": "t1",
    }
    assert events[1]["insert_id"] == "ins-1"


def test_other_property_cells_stay_strings_and_types_are_coerced(api: Api) -> None:
    header = "event,timestamp,user_id,properties.trial_length_days,properties.trial_converted"
    run(
        api,
        csv_rows("custom,2024-03-12T00:00:00Z,u2,7,TRUE,007", header=header + ",properties.code"),
    )
    assert stored(api)[0]["properties"] == {
        "trial_length_days": 7,
        "trial_converted": True,
        "code": "007",
    }


def test_dry_run_validates_and_stores_nothing(api: Api) -> None:
    job = run(api, csv_rows(*GOOD, *BAD), query="?dry_run=true")
    assert (job["dry_run"], job["accepted"], job["rejected"]) == (True, 3, 4)
    assert stored(api) == []


def test_a_dry_run_counts_the_duplicates_the_import_then_finds(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Repeats of stored events and of earlier rows of the file, with one row per slice so
    that every repeat crosses a slice boundary."""
    run(api, csv_rows(*GOOD))
    monkeypatch.setattr(job_module, "COMMIT_ROWS", 1)
    again = [
        "refund_issued,2024-03-16T09:00:00Z,u1,,,,,,49.99,USD,t1",  # t1 of another event: new
        "paywall_viewed,2024-03-16T14:20:00Z,u9,,ins-2,,pw1,,,,",
        "paywall_viewed,2024-03-17T14:20:00Z,u9,,ins-2,,pw1,,,,",  # repeats the row above
    ]
    body = csv_rows(*GOOD, *again)
    dry = run(api, body, query="?dry_run=true")
    assert (dry["accepted"], dry["duplicates"]) == (6, 3)  # GOOD's t1 and ins-1; ins-2 again
    assert len(stored(api)) == 3
    real = run(api, body)
    assert (real["accepted"], real["duplicates"]) == (6, dry["duplicates"])
    assert len(stored(api)) == 3 + 3


def test_the_same_file_again_stores_nothing_and_says_so(api: Api) -> None:
    first = run(api, csv_rows(*GOOD))
    again = upload(api, csv_rows(*GOOD))
    assert again.status_code == 200
    assert (
        again.json()["duplicate_of"] == first["import_id"]
        and "already imported" in again.json()["message"]
    )
    assert len(stored(api)) == 3


def test_rows_seen_before_are_duplicates(api: Api) -> None:
    run(api, csv_rows(*GOOD))
    job = run(api, csv_rows(*GOOD, "paywall_viewed,2024-03-16T14:20:00Z,u9,,,,pw1,,,,"))
    assert (job["accepted"], job["duplicates"]) == (4, 2)  # revenue txn t1 and insert_id ins-1
    assert len(stored(api)) == 3 + 2


def test_gzip_and_multipart_uploads(api: Api) -> None:
    job = run(api, gzip.compress(csv_rows(GOOD[0])), **{"Content-Encoding": "gzip"})
    assert job["accepted"] == 1
    response = api.client.post(
        "/v1/imports",
        headers={"Authorization": f"Bearer {api.rw}"},
        files={"file": ("events.csv", csv_rows(GOOD[2]), "text/csv")},
    )
    assert response.status_code == 202 and response.json()["file_name"] == "events.csv"
    assert wait_done(get(api), response.json()["import_id"])["accepted"] == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty"),
        (b"\n\nevent,timestamp\n", "no header"),
        (b"ev\xffent,timestamp\n", "not UTF-8"),
        (b"user_id,timestamp\nu,2024-01-01T00:00:00Z\n", "no 'event' column"),
        (b"event,user_id\nx,u\n", "no 'timestamp' column"),
        (b"event,timestamp,colour\n", "Unknown column 'colour'"),
        (b"event,timestamp,event\n", "appears twice"),
        (b"event,timestamp\rx,2024-03-15T14:20:00Z\r", "carriage return"),
        (b"eve\rnt,timestamp\n", "carriage return"),
    ],
    ids=[
        "empty",
        "blank header",
        "not utf8",
        "no event",
        "no timestamp",
        "unknown column",
        "twice",
        "cr line ends",
        "cr in header",
    ],
)
def test_bad_files_get_400(api: Api, body: bytes, reason: str) -> None:
    response = upload(api, body)
    assert response.status_code == 400 and reason in response.json()["message"]
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("multipart/form-data", b"event,timestamp\n", "Missing boundary"),
        (
            "multipart/form-data; boundary=b",
            b"".join(
                b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i
                for i in range(8)
            )
            + b"--b--\r\n",
            "Too many fields",
        ),
    ],
    ids=["no boundary", "too many fields"],
)
def test_a_form_that_cannot_be_read_is_a_400(
    api: Api, content_type: str, body: bytes, reason: str
) -> None:
    headers = {**api.headers(), "Content-Type": content_type}
    response = api.client.post("/v1/imports", content=body, headers=headers)
    assert response.status_code == 400 and reason in response.json()["message"]
    assert response.json()["error"] == "invalid_request"


def test_rows_that_are_not_utf8_are_row_errors(api: Api) -> None:
    job = run(
        api,
        b"event,timestamp,user_id\nx,2024-03-15T14:20:00Z,u\xff\nx,2024-03-15T14:20:00Z,u\n"
        b"e\xff,2024-03-15T14:20:00Z,u\ne\xe2\x82,2024-03-15T14:20:00Z\n",
    )
    assert (job["status"], job["accepted"], job["rejected"]) == ("completed", 1, 3)
    assert job["errors"] == [
        {"row": 1, "event": "x", "reason": "Row is not valid UTF-8"},
        {"row": 3, "event": "e\ufffd", "reason": "Row is not valid UTF-8"},
        {"row": 4, "event": "e\ufffd", "reason": "Row has 2 cells; the header has 3"},
    ]
    errors = api.client.get(f"/v1/imports/{job['import_id']}/errors.csv", headers=api.headers())
    assert b"\ne\xff,2024-03-15T14:20:00Z,u,3," in errors.content  # the row as it was in the file


def test_wrong_media_type_and_read_only_key(api: Api) -> None:
    assert upload(api, b"{}", **{"Content-Type": "application/json"}).status_code == 415
    assert upload(api, csv_rows(GOOD[0]), key=api.ro).status_code == 403
    form = api.client.post(
        "/v1/imports",
        headers={"Authorization": f"Bearer {api.rw}"},
        files={"other": ("a.csv", b"x")},
    )
    assert form.status_code == 400 and "file" in form.json()["message"]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    settings = Settings(
        db=str(tmp_path / "s.db"),
        log_requests=False,
        import_max_bytes=1000,
        default_requests_per_minute=2,
    )
    store = open_store(settings)
    _, issued = store.create_workspace("w")
    try:
        with TestClient(build_app(settings, store=store)) as client:
            yield client, issued.secret
    finally:
        store.close()


def test_file_over_the_limit_is_413(small: tuple[TestClient, str]) -> None:
    client, key = small
    body = csv_rows(*[GOOD[0]] * 40)
    response = client.post(
        "/v1/imports",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"},
    )
    assert response.status_code == 413 and "1000 bytes" in response.json()["message"]
    bomb = gzip.compress(csv_rows() + b"x" * 10_000_000)
    response = client.post(
        "/v1/imports",
        content=bomb,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "text/csv",
            "Content-Encoding": "gzip",
        },
    )
    assert response.status_code == 413


def test_imports_do_not_spend_the_live_quota(small: tuple[TestClient, str]) -> None:
    client, key = small
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "text/csv"}
    for row in GOOD:
        assert client.post("/v1/imports", content=csv_rows(row), headers=headers).status_code == 202
    ingest = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    batch = {"events": [{"event": "x", "user_id": "u", "timestamp": "2024-03-15T14:20:00Z"}]}
    answers = [
        client.post("/v1/batch/events", json=batch, headers=ingest).status_code for _ in range(2)
    ]
    assert answers == [200, 200]


def test_parallel_validation_gives_the_same_outcome(tmp_path: Path) -> None:
    """Files over import_parallel_min_bytes are validated in two processes, then merged."""
    rows = [GOOD[i % 3].replace("u1,", f"u{i},", 1) for i in range(60)] + BAD * 3
    body = csv_rows(*rows)
    outcomes = []
    for threshold in (10**9, 1):
        settings = Settings(
            db=str(tmp_path / f"p{threshold}.db"),
            log_requests=False,
            import_parallel_min_bytes=threshold,
        )
        store = open_store(settings)
        _, issued = store.create_workspace("w")
        auth = {"Authorization": f"Bearer {issued.secret}"}
        try:
            with TestClient(build_app(settings, store=store)) as client:
                created = client.post(
                    "/v1/imports", content=body, headers={**auth, "Content-Type": "text/csv"}
                )
                job = wait_done(
                    lambda path, c=client, a=auth: c.get(path, headers=a),
                    created.json()["import_id"],
                )
                errors = client.get(job["errors_url"], headers=auth).text
                events = client.get("/v1/events?limit=1000", headers=auth).json()["events"]
        finally:
            store.close()
        order = [(e["timestamp"], e["user_id"]) for e in events[::-1]]
        outcomes.append(
            (job["accepted"], job["rejected"], job["duplicates"], job["errors"], errors, order)
        )
    for part in range(6):
        assert outcomes[0][part] == outcomes[1][part], part
    assert outcomes[0][1] == 12 and outcomes[0][5] == sorted(outcomes[0][5], key=lambda o: o[0])


def test_shares_are_cut_at_record_boundaries_even_inside_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    lines = ["event,timestamp,user_id,properties.note"]
    lines += [
        f'x,2024-03-15T14:20:00Z,u{i},"line one\nline ""two"", {i}\nthree"' for i in range(101)
    ]
    path.write_text("\n".join(lines) + "\n")
    whole = list(csv.reader(io.StringIO(path.read_text())))[1:]
    for shares in (2, 3, 7):
        ranges = split_rows(path, shares)
        data = path.read_bytes()
        parts = [list(csv.reader(io.StringIO(data[a:b].decode()))) for a, b in ranges]
        assert [row for part in parts for row in part] == whole
        assert ranges[0][0] == len(lines[0]) + 1 and ranges[-1][1] == len(data)


def test_a_share_validated_in_a_thread_reports_its_progress(tmp_path: Path) -> None:
    """Small files are validated in the server's own process; the rows read so far are
    counted where the job looks for them, as the validation processes do."""
    from flokit.imports.validation import PROGRESS_EVERY, ShareTask, validate_share

    path = tmp_path / "small.csv"
    path.write_bytes(csv_rows(*[GOOD[0]] * (2 * PROGRESS_EVERY + 5)))
    (start, end), now_us = split_rows(path, 1)[0], 1_800_000_000_000_000
    files = [tmp_path / name for name in ("sorted", "errors", "runs")]
    task = ShareTask(path, *files, 0, start, end, Settings(), now_us)
    progress = [0]
    result = validate_share(task, progress=progress)
    assert result.rows == 2 * PROGRESS_EVERY + 5 and progress == [2 * PROGRESS_EVERY]
