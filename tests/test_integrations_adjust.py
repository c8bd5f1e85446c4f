"""Adjust callbacks (integrations.md §5): installs and reattributions, token-mapped events,
unmapped tokens and bad times, from query parameters named as Adjust's placeholders."""

from __future__ import annotations

from typing import Any

import pytest
from integrations_helpers import ADJUST_PATH, connect, fixture, shown, stored, written

from conftest import Api

TOKENS = {"f0ob4r": "subscription_started", "pw1vew": "paywall_viewed"}


@pytest.fixture
def adjust(api: Api) -> dict[str, Any]:
    return connect(api, "adjust", event_tokens=TOKENS)


def callback(api: Api, secret: str | None, name: str, method: str = "GET") -> Any:
    params = {**fixture("adjust", name), **({"secret": secret} if secret else {})}
    return api.client.request(method, ADJUST_PATH, params=params)


def test_an_install_is_attributed(api: Api, adjust: dict[str, Any]) -> None:
    assert callback(api, adjust["secret"], "install").json()["accepted"] == 1
    (event,) = stored(api)
    assert (event["event"], event["user_id"], event["timestamp"]) == (
        "install_attributed",
        "usr_8f2c1a",
        "2024-03-15T14:20:00Z",
    )
    assert event["properties"] == {
        "channel": "facebook installs",
        "campaign_id": "spring_sale_us (23851234567890123)",
        "ad_set_id": "lookalike_1pct (23851234567890456)",
        "creative_id": "video_cat_15s (23851234567890789)",
        "country": "US",
        "platform": "ios",
    }


def test_an_organic_install_without_user_is_anonymous(api: Api, adjust: dict[str, Any]) -> None:
    assert callback(api, adjust["secret"], "install_organic", "POST").json()["accepted"] == 1
    (event,) = stored(api)
    assert event["user_id"] is None
    assert event["anonymous_id"] == "7f3a1c9e0b6d4e2f8a5c3b1d9e7f6a40"
    assert event["properties"]["channel"] == "organic"
    assert event["properties"]["platform"] == "android"
    assert event["properties"]["country"] == "DE"


def test_a_reattribution_is_attributed(api: Api, adjust: dict[str, Any]) -> None:
    assert callback(api, adjust["secret"], "reattribution").json()["accepted"] == 1
    assert stored(api)[0]["properties"]["channel"] == "google ads uac"


@pytest.mark.parametrize(
    ("name", "event", "properties"),
    [
        (
            "event_purchase",
            "subscription_started",
            {"revenue": 9.99, "currency": "USD", "transaction_id": "2000000551234567"},
        ),
        ("event_paywall", "paywall_viewed", {"paywall_id": "pw_annual_v3"}),
    ],
)
def test_events_map_through_the_token_table(
    api: Api, adjust: dict[str, Any], name: str, event: str, properties: dict[str, Any]
) -> None:
    assert callback(api, adjust["secret"], name).json()["accepted"] == 1
    (stored_event,) = stored(api)
    assert stored_event["event"] == event
    assert properties.items() <= stored_event["properties"].items()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("event_unmapped", "unmapped_token"),
        ("session", "unknown_type"),
        ("install_created_at_in_ms", "bad_timestamp"),
    ],
)
def test_dropped_and_counted(api: Api, adjust: dict[str, Any], name: str, reason: str) -> None:
    answer = callback(api, adjust["secret"], name)
    assert answer.status_code == 200
    assert answer.json()["reasons"][0]["reason"] == reason
    assert stored(api) == []
    assert shown(api, adjust["id"])["dropped"] == {reason: 1}


def test_a_repeated_callback_is_a_duplicate(api: Api, adjust: dict[str, Any]) -> None:
    callback(api, adjust["secret"], "install")
    assert callback(api, adjust["secret"], "install").json()["duplicates"] == 1
    assert len(stored(api)) == 1


def test_a_wrong_secret_is_401_and_stores_nothing(api: Api, adjust: dict[str, Any]) -> None:
    before = written(api.settings)
    for secret in (None, "fkwh_wrong"):
        assert callback(api, secret, "install").status_code == 401
    assert written(api.settings) == before
