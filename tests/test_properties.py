"""Property tests: any JSON as events gets exactly one outcome each, and what is accepted is
stored and reads back unchanged."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flokit.taxonomy import TAXONOMY
from flokit.timestamps import parse_iso

from conftest import Api

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
TIMESTAMPS = st.sampled_from(
    ["2024-03-15T14:20:00Z", "2024-03-15T16:20:00.123+02:00", "2024-03-15", "1999-01-01T00:00:00Z"]
)
PROPERTY_VALUES = st.fixed_dictionaries(
    {},
    optional={
        name: JSON | st.just(good)
        for name, good in [
            ("plan_id", "p"),
            ("paywall_id", "pw"),
            ("revenue", 9.99),
            ("currency", "EUR"),
            ("transaction_id", "t1"),
            ("campaign_id", "c"),
            ("channel", "meta"),
            ("country", "FR"),
        ]
    },
)
EVENTISH = st.fixed_dictionaries(
    {"event": st.sampled_from(sorted(TAXONOMY)) | st.text(max_size=12), "timestamp": TIMESTAMPS},
    optional={
        "user_id": st.text(max_size=5) | JSON,
        "anonymous_id": st.text(min_size=1, max_size=5),
        "insert_id": st.sampled_from(["i1", "i2"]),
        "properties": PROPERTY_VALUES | JSON,
        "extra": JSON,
    },
)
BATCHES = st.lists(EVENTISH | JSON, min_size=1, max_size=30)


def read_back(api: Api, key: str, event_id: str) -> dict[str, Any]:
    response = api.client.get(f"/v1/events/{event_id}", headers=api.headers(key))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=BATCHES)
def test_every_event_gets_exactly_one_outcome(api: Api, batch: list[Any]) -> None:
    _, issued = api.store.create_workspace("prop")  # a fresh workspace: no duplicates from earlier
    response = api.client.post(
        "/v1/batch/events",
        content=json.dumps({"events": batch}).encode(),
        headers=api.headers(issued.secret),
    )
    assert response.status_code == 200
    body = response.json()
    rejected = [e["index"] for e in body["errors"]]
    assert len(rejected) == len(set(rejected)) == body["rejected"]
    assert (
        body["accepted"] + body["rejected"] == len(batch) == len(body["event_ids"]) + len(rejected)
    )
    accepted = [i for i in range(len(batch)) if i not in set(rejected)]
    first_seen: set[str] = set()
    for index, event_id in zip(accepted, body["event_ids"], strict=True):
        if event_id in first_seen:
            continue  # a duplicate within the batch: it answers its original's id
        first_seen.add(event_id)
        assert_reads_back(read_back(api, issued.secret, event_id), batch[index])
    assert body["duplicates"] == len(body["event_ids"]) - len(first_seen)


def assert_reads_back(stored: dict[str, Any], sent: dict[str, Any]) -> None:
    assert stored["event"] == sent["event"]
    assert stored["user_id"] == sent.get("user_id")
    assert stored["anonymous_id"] == sent.get("anonymous_id")
    assert stored["insert_id"] == sent.get("insert_id")
    assert stored["properties"] == (sent.get("properties") or {})
    assert parse_iso(stored["timestamp"]) == parse_iso(sent["timestamp"])
    assert stored["timestamp"].endswith("Z")
