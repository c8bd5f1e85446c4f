"""The documented batch contract: batch-events.md's examples and contract §3, §5."""

from __future__ import annotations

import re

from conftest import Api, event, seed_batch

EVT = re.compile(r"evt_[0-9a-hjkmnp-tv-z]{20}")


def test_seed_example_is_accepted(api: Api) -> None:
    response = api.client.post("/v1/batch/events", json=seed_batch(), headers=api.headers())
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["status", "accepted", "rejected", "duplicates", "event_ids", "errors"]
    assert (body["status"], body["accepted"], body["rejected"], body["errors"]) == ("ok", 3, 0, [])
    assert all(EVT.fullmatch(i) for i in body["event_ids"])
    assert "FloKit-Rejected" not in response.headers


def test_missing_currency_is_the_documented_partial_acceptance(api: Api) -> None:
    batch = seed_batch()
    del batch["events"][2]["properties"]["currency"]
    response = api.client.post("/v1/batch/events", json=batch, headers=api.headers())
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"], len(body["event_ids"])) == (2, 1, 2)
    assert body["errors"] == [
        {
            "index": 2,
            "event": "subscription_started",
            "reason": "Missing required field: currency",
            "code": "missing_field",
            "field": "properties.currency",
        }
    ]
    assert response.headers["FloKit-Rejected"] == "1"


def test_every_event_rejected_is_still_200(api: Api) -> None:
    response = api.batch([1, "x", None])
    body = response.json()
    assert response.status_code == 200
    assert (body["accepted"], body["rejected"], body["event_ids"]) == (0, 3, [])
    assert [e["index"] for e in body["errors"]] == [0, 1, 2]
    assert {e["code"] for e in body["errors"]} == {"not_an_object"}
    assert response.headers["FloKit-Rejected"] == "3"


def test_ids_are_unique_and_sort_by_receipt(api: Api) -> None:
    first = api.batch([event() for _ in range(500)]).json()["event_ids"]
    second = api.batch([event() for _ in range(500)]).json()["event_ids"]
    ids = first + second
    assert len(set(ids)) == 1000
    assert ids == sorted(ids)


def test_revenue_duplicate_is_accepted_once_with_original_id(api: Api) -> None:
    original = api.batch([event("subscription_started")]).json()
    again = api.batch([event("subscription_started"), event("trial_started")]).json()
    assert (again["accepted"], again["duplicates"]) == (2, 1)
    assert again["event_ids"][0] == original["event_ids"][0]
    listed = api.client.get("/v1/events?event=subscription_started", headers=api.headers()).json()
    assert len(listed["events"]) == 1


def test_same_transaction_on_another_revenue_event_is_not_a_duplicate(api: Api) -> None:
    body = api.batch([event("subscription_started"), event("refund_issued")]).json()
    assert (body["accepted"], body["duplicates"]) == (2, 0)


def test_insert_id_duplicates_within_and_across_batches(api: Api) -> None:
    body = api.batch([event(insert_id="a"), event(insert_id="a"), event(insert_id="b")]).json()
    assert (body["accepted"], body["duplicates"]) == (3, 1)
    assert body["event_ids"][0] == body["event_ids"][1] != body["event_ids"][2]
    later = api.batch([event(insert_id="b")]).json()
    assert later["event_ids"] == [body["event_ids"][2]] and later["duplicates"] == 1


def test_duplicate_keys_are_per_workspace(api: Api) -> None:
    _, issued = api.store.create_workspace("other")
    first = api.batch([event(insert_id="same")]).json()
    other = api.batch([event(insert_id="same")], key=issued.secret).json()
    assert other["duplicates"] == 0 and other["event_ids"] != first["event_ids"]


def test_single_event_endpoint(api: Api) -> None:
    response = api.client.post("/v1/events", json=event(), headers=api.headers())
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["status", "event_id"] and EVT.fullmatch(body["event_id"])


def test_single_event_duplicate_answers_original_id(api: Api) -> None:
    first = api.client.post("/v1/events", json=event(insert_id="x"), headers=api.headers()).json()
    second = api.client.post("/v1/events", json=event(insert_id="x"), headers=api.headers()).json()
    assert first == second


def test_single_event_validation_error(api: Api) -> None:
    response = api.client.post("/v1/events", json=event(timestamp=None), headers=api.headers())
    assert response.status_code == 400
    assert response.json() == {
        "error": "validation_error",
        "message": "Missing required field: timestamp",
        "field": "timestamp",
    }


def test_unknown_event_names_are_custom_events(api: Api) -> None:
    body = api.batch(
        [
            {
                "event": "button_tapped",
                "anonymous_id": "dev_1",
                "timestamp": "2024-03-15T14:20:00+02:00",
                "properties": {"revenue": "lots"},
            }
        ]
    )
    assert body.json()["accepted"] == 1
