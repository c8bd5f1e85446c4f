"""Contract §3 to §4: every rule, reason text, code and field, checked on the pure validator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flokit.model import Rejection, ValidEvent
from flokit.pipeline.validate import Validator
from flokit.settings import Settings
from flokit.timestamps import parse_iso

from conftest import event

NOW = parse_iso("2026-01-01T00:00:00Z")
assert NOW is not None
VALIDATOR = Validator(Settings())


def check(doc: Any) -> ValidEvent | Rejection:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return VALIDATOR.check(raw, 0, NOW)


def props(name: str, **changes: Any) -> dict[str, Any]:
    """The event ``name`` with its properties changed (None removes one)."""
    doc = event(name)
    doc["properties"].update(changes)
    doc["properties"] = {k: v for k, v in doc["properties"].items() if v is not None}
    return doc


IDENTITY = "a string of 1 to 255 characters without NUL"
TS_RULE = "an ISO 8601 date-time with a timezone, like 2024-03-15T14:20:00Z"
EVENT_RULE = "a string of 1 to 200 characters without control characters"
CASES: list[tuple[str, Any, str, str, str | None]] = [
    ("number", 5, "not_an_object", "Event must be a JSON object", None),
    ("string", "x", "not_an_object", "Event must be a JSON object", None),
    ("array", [event()], "not_an_object", "Event must be a JSON object", None),
    ("null", None, "not_an_object", "Event must be a JSON object", None),
    (
        "too large",
        event(properties={"s": "x" * 40000}),
        "too_large",
        "Event too large: 40109 bytes (limit 32768)",
        None,
    ),
    ("event missing", event(event=None), "missing_field", "Missing required field: event", "event"),
    (
        "event null",
        {**event(), "event": None},
        "missing_field",
        "Missing required field: event",
        "event",
    ),
    (
        "event number",
        event(event=3),
        "invalid_field",
        f"Invalid field: event must be {EVENT_RULE}",
        "event",
    ),
    (
        "event empty",
        event(event=""),
        "invalid_field",
        f"Invalid field: event must be {EVENT_RULE}",
        "event",
    ),
    (
        "event too long",
        event(event="e" * 201),
        "invalid_field",
        f"Invalid field: event must be {EVENT_RULE}",
        "event",
    ),
    (
        "event control char",
        event(event="pay\nwall"),
        "invalid_field",
        f"Invalid field: event must be {EVENT_RULE}",
        "event",
    ),
    (
        "event C1 control",
        event(event="pay\x85"),
        "invalid_field",
        f"Invalid field: event must be {EVENT_RULE}",
        "event",
    ),
    (
        "timestamp missing",
        event(timestamp=None),
        "missing_field",
        "Missing required field: timestamp",
        "timestamp",
    ),
    (
        "timestamp null",
        {**event(), "timestamp": None},
        "missing_field",
        "Missing required field: timestamp",
        "timestamp",
    ),
    (
        "timestamp number",
        event(timestamp=1710512400),
        "invalid_field",
        f"Invalid field: timestamp must be {TS_RULE}",
        "timestamp",
    ),
    (
        "timestamp no zone",
        event(timestamp="2024-03-15T14:20:00"),
        "invalid_field",
        f"Invalid field: timestamp must be {TS_RULE}",
        "timestamp",
    ),
    (
        "timestamp date only",
        event(timestamp="2024-03-15"),
        "invalid_field",
        f"Invalid field: timestamp must be {TS_RULE}",
        "timestamp",
    ),
    (
        "timestamp NaN string",
        event(timestamp="NaN"),
        "invalid_field",
        f"Invalid field: timestamp must be {TS_RULE}",
        "timestamp",
    ),
    (
        "timestamp 7 digits",
        event(timestamp="2024-03-15T14:20:00.1234567Z"),
        "invalid_field",
        f"Invalid field: timestamp must be {TS_RULE}",
        "timestamp",
    ),
    (
        "timestamp impossible",
        event(timestamp="2024-02-30T00:00:00Z"),
        "invalid_field",
        f"Invalid field: timestamp must be {TS_RULE}",
        "timestamp",
    ),
    (
        "timestamp non-ascii digits",
        event(timestamp="٢٠٢٤-03-15T14:20:00Z"),
        "invalid_field",
        f"Invalid field: timestamp must be {TS_RULE}",
        "timestamp",
    ),
    (
        "timestamp 1999",
        event(timestamp="1999-12-31T23:59:59Z"),
        "invalid_field",
        "Invalid field: timestamp must be at or after 2000-01-01T00:00:00Z",
        "timestamp",
    ),
    (
        "timestamp 25h ahead",
        event(timestamp="2026-01-02T01:00:00Z"),
        "invalid_field",
        "Invalid field: timestamp is more than 24 hours in the future",
        "timestamp",
    ),
    (
        "no identity",
        event("button_tapped", user_id=None),
        "missing_field",
        "Missing required field: user_id or anonymous_id",
        "user_id",
    ),
    (
        "taxonomy needs user_id",
        event(user_id=None, anonymous_id="a"),
        "missing_field",
        "Missing required field: user_id",
        "user_id",
    ),
    (
        "user_id number",
        event(user_id=7),
        "invalid_field",
        f"Invalid field: user_id must be {IDENTITY}",
        "user_id",
    ),
    (
        "user_id empty",
        event(user_id=""),
        "invalid_field",
        f"Invalid field: user_id must be {IDENTITY}",
        "user_id",
    ),
    (
        "user_id too long",
        event(user_id="u" * 256),
        "invalid_field",
        f"Invalid field: user_id must be {IDENTITY}",
        "user_id",
    ),
    (
        "anonymous_id object",
        event(anonymous_id={}),
        "invalid_field",
        f"Invalid field: anonymous_id must be {IDENTITY}",
        "anonymous_id",
    ),
    (
        "insert_id too long",
        event(insert_id="i" * 129),
        "invalid_field",
        "Invalid field: insert_id must be a string of 1 to 128 characters without NUL",
        "insert_id",
    ),
    (
        "unknown field",
        event(revenue=3),
        "unknown_field",
        "Unknown field: revenue (event-specific fields belong in properties)",
        "revenue",
    ),
    (
        "properties array",
        event(properties=[1]),
        "invalid_field",
        "Invalid field: properties must be an object",
        "properties",
    ),
    (
        "properties string",
        event(properties="{}"),
        "invalid_field",
        "Invalid field: properties must be an object",
        "properties",
    ),
    (
        "required property",
        props("paywall_viewed", paywall_id=None),
        "missing_field",
        "Missing required field: paywall_id",
        "properties.paywall_id",
    ),
    (
        "required in taxonomy order",
        props("subscription_started", plan_id=None, currency=None),
        "missing_field",
        "Missing required field: plan_id",
        "properties.plan_id",
    ),
    (
        "install needs campaign",
        props("install_attributed", campaign_id=None),
        "missing_field",
        "Missing required field: campaign_id",
        "properties.campaign_id",
    ),
    (
        "revenue string",
        props("subscription_started", revenue="49.99"),
        "invalid_field",
        "Invalid field: revenue must be a finite number >= 0",
        "properties.revenue",
    ),
    (
        "revenue boolean",
        props("subscription_started", revenue=True),
        "invalid_field",
        "Invalid field: revenue must be a finite number >= 0",
        "properties.revenue",
    ),
    (
        "revenue negative",
        props("refund_issued", revenue=-1),
        "invalid_field",
        "Invalid field: revenue must be a finite number >= 0",
        "properties.revenue",
    ),
    (
        "revenue 1e309",
        json.dumps(props("subscription_started")).replace("49.99", "1e309").encode(),
        "invalid_field",
        "Invalid field: revenue must be a finite number >= 0",
        "properties.revenue",
    ),
    (
        "currency lowercase",
        props("subscription_started", currency="usd"),
        "invalid_field",
        "Invalid field: currency must be three uppercase letters (ISO 4217)",
        "properties.currency",
    ),
    (
        "country",
        props("paywall_viewed", country="France"),
        "invalid_field",
        "Invalid field: country must be two uppercase letters (ISO 3166-1 alpha-2)",
        "properties.country",
    ),
    (
        "platform",
        props("paywall_viewed", platform="ipad"),
        "invalid_field",
        "Invalid field: platform must be one of ios, android, web",
        "properties.platform",
    ),
    (
        "trial length float",
        props("trial_started", trial_length_days=7.5),
        "invalid_field",
        "Invalid field: trial_length_days must be an integer >= 0",
        "properties.trial_length_days",
    ),
    (
        "trial_converted string",
        props("subscription_started", trial_converted="true"),
        "invalid_field",
        "Invalid field: trial_converted must be a boolean",
        "properties.trial_converted",
    ),
    (
        "plan_ids mixed",
        props("paywall_viewed", plan_ids=["a", 1]),
        "invalid_field",
        "Invalid field: plan_ids must be an array of strings",
        "properties.plan_ids",
    ),
    (
        "empty id",
        props("trial_started", plan_id=""),
        "invalid_field",
        "Invalid field: plan_id must be a non-empty string of at most 255 characters without NUL",
        "properties.plan_id",
    ),
    (
        "too deep",
        event("custom", properties={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": [1]}}}}}}}}),
        "invalid_field",
        "Invalid field: properties must be nested at most 8 levels deep",
        "properties",
    ),
    (
        "non-finite custom property",
        b'{"event":"x","user_id":"u","timestamp":"2024-03-15T14:20:00Z","properties":{"n":[1e999]}}',
        "invalid_field",
        "Invalid field: properties.n.0 must be a finite number",
        "properties.n.0",
    ),
    (
        "5000-digit integer",
        b'{"event":"x","user_id":"u","timestamp":"2024-03-15T14:20:00Z","properties":{"n":'
        + b"9" * 5000
        + b"}}",
        "invalid_field",
        "Invalid field: properties.n must be a finite number",
        "properties.n",
    ),
    # Order of checks: the first problem wins.
    (
        "size before event",
        {"event": 1, "x": "y" * 40000},
        "too_large",
        "Event too large: 40021 bytes (limit 32768)",
        None,
    ),
    (
        "event before timestamp",
        {"timestamp": "bad"},
        "missing_field",
        "Missing required field: event",
        "event",
    ),
    (
        "identity before unknown",
        {"event": "x", "timestamp": "2024-03-15T14:20:00Z", "foo": 1},
        "missing_field",
        "Missing required field: user_id or anonymous_id",
        "user_id",
    ),
    (
        "unknown before properties",
        event(foo=1, properties=3),
        "unknown_field",
        "Unknown field: foo (event-specific fields belong in properties)",
        "foo",
    ),
    (
        "required before types",
        props("subscription_started", revenue="x", currency=None),
        "missing_field",
        "Missing required field: currency",
        "properties.currency",
    ),
]


@pytest.mark.parametrize(
    ("doc", "code", "reason", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rejection(doc: Any, code: str, reason: str, field: str | None) -> None:
    result = check(doc)
    assert isinstance(result, Rejection)
    assert (result.code, result.reason, result.field) == (code, reason, field)


VALID: list[tuple[str, Any]] = [
    ("seed paywall", event()),
    ("offset and fraction", event(timestamp="2024-03-15T14:20:00.123456+02:00")),
    ("compact offset", event(timestamp="2024-03-15T14:20:00-0530")),
    ("exactly 24h ahead", event(timestamp="2026-01-02T00:00:00Z")),
    ("exactly 2000", event(timestamp="2000-01-01T00:00:00Z")),
    ("null properties", event(properties=None) | {"properties": None, "event": "custom"}),
    ("anonymous install", props("install_attributed") | {"user_id": None, "anonymous_id": "d"}),
    (
        "custom with anything",
        {
            "event": "x" * 200,
            "anonymous_id": "a",
            "timestamp": "2024-03-15T14:20:00Z",
            "properties": {"revenue": -5, "nested": {"a": [1, {"b": None}]}},
        },
    ),
    ("null optional property", props("paywall_viewed", country=None) | {}),
    ("integer revenue", props("subscription_started", revenue=0)),
    (
        "depth exactly 8",
        event("custom", properties={"a": {"b": {"c": {"d": {"e": {"f": {"g": [1]}}}}}}}),
    ),
    ("brackets inside strings", event("custom", properties={"s": "[[[[[[[[[[{{{{{{{{{"})),
    ("huge integer", event("custom", properties={"n": 123456789012345678901234567890})),
]


@pytest.mark.parametrize("doc", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid(doc: Any) -> None:
    result = check(doc)
    assert isinstance(result, ValidEvent), result


def test_timestamp_normalised_to_utc_microseconds() -> None:
    result = check(event(timestamp="2024-03-15T16:20:00.5+02:00"))
    assert isinstance(result, ValidEvent)
    assert result.timestamp_us == parse_iso("2024-03-15T14:20:00.500000Z")


def test_revenue_event_carries_its_transaction_key() -> None:
    result = check(event("subscription_started"))
    assert isinstance(result, ValidEvent) and result.transaction_id == "txn_1"
    other = check(event("trial_started"))
    assert isinstance(other, ValidEvent) and other.transaction_id is None


def test_rejection_names_the_event_as_sent() -> None:
    named = check(event(timestamp=None))
    unnamed = check(event(event=12))
    assert isinstance(named, Rejection) and named.event == "paywall_viewed"
    assert isinstance(unnamed, Rejection) and unnamed.event is None


def test_limits_are_configurable() -> None:
    small = Validator(Settings(max_event_bytes=100))
    big = small.check(json.dumps(event(properties={"s": "x" * 100})).encode(), 0, NOW)
    assert isinstance(big, Rejection) and big.reason.endswith("(limit 100)")
    strict = Validator(Settings(max_future_seconds=3600))
    ahead = strict.check(json.dumps(event(timestamp="2026-01-01T02:00:00Z")).encode(), 0, NOW)
    assert isinstance(ahead, Rejection) and ahead.reason.endswith("more than 1 hours in the future")
