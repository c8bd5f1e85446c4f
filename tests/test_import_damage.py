"""Property test: whatever damage a CSV file's bytes suffer, the upload is refused with a 400 or
the job completes and accounts for every row; it never fails, and never answers 500."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imports_helpers import csv_rows, wait_done

from conftest import Api

ROWS = [
    "paywall_viewed,2024-03-15T14:20:00Z,u1,,,,pw1,,,,",
    'subscription_started,2024-03-10T09:00:00+01:00,u1,,,"{""store"": ""apple""}",'
    ",plan,49.99,USD,t1",
    "trial_started,2024-03-12T00:00:00Z,u2,,ins-1,,,plan,,,",
    "trial_started,2024-03-01,u1,,,,,plan,,,",
]
FILE = csv_rows(*ROWS)
#: Bytes that trouble CSV readers, UTF-8 decoders and JSON parsers.
JUNK = [b"\x00", b'"', b"\r", b"\n", b",", b"\xff", b"\xe2\x82", b'""', b"{", b"\\", b"\r\n"]

EDITS = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=len(FILE) - 1),
        st.sampled_from(JUNK) | st.none(),  # None cuts a few bytes out instead
        st.integers(min_value=1, max_value=8),
    ),
    min_size=1,
    max_size=6,
)


def damaged(edits: list[tuple[int, bytes | None, int]]) -> bytes:
    data = bytearray(FILE)
    for at, junk, cut in edits:
        at = min(at, len(data))
        if junk is None:
            del data[at : at + cut]
        else:
            data[at:at] = junk
    return bytes(data)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=EDITS, dry_run=st.booleans())
def test_a_damaged_file_is_refused_or_fully_accounted_for(
    api: Api, edits: list[tuple[int, bytes | None, int]], dry_run: bool
) -> None:
    body = damaged(edits)
    headers = {**api.headers(), "Content-Type": "text/csv"}
    query = "?dry_run=true" if dry_run else ""
    response = api.client.post(f"/v1/imports{query}", content=body, headers=headers)
    assert response.status_code in (200, 202, 400), response.text
    if response.status_code == 400:
        assert response.json()["error"] == "invalid_request" and response.json()["message"]
        return
    job = response.json()
    if response.status_code == 202:
        job = wait_done(lambda path: api.client.get(path, headers=api.headers()), job["import_id"])
    assert job["status"] == "completed", job
    if job["duplicate_of"] is None:
        # Duplicates are accepted events that were stored before (contract §5).
        assert job["accepted"] + job["rejected"] == job["rows_total"], job
        assert job["duplicates"] <= job["accepted"], job
        assert len(job["errors"]) == min(job["rejected"], 100)
