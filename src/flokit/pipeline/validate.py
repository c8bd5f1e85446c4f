"""Validate stage: one raw event into a ``ValidEvent`` or one ``Rejection`` (contract §3, §4).

Checks run in the contract's order and the first problem found is the one reported: object;
size; ``event``; ``timestamp``; ``user_id``/``anonymous_id``; ``insert_id``; unknown top-level
fields; ``properties`` is an object; required properties in taxonomy order; property types.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

from flokit.errors import InvalidJson
from flokit.model import Rejection, RejectionCode, ValidEvent
from flokit.settings import Settings
from flokit.taxonomy import PROPERTY_RULES, REVENUE_EVENTS, TAXONOMY
from flokit.timestamps import parse_iso

ENVELOPE_FIELDS = frozenset(
    {"event", "timestamp", "user_id", "anonymous_id", "properties", "insert_id"}
)
#: Lengths of the envelope's strings (contract §4); the OpenAPI document reads them too.
MAX_EVENT_NAME_CHARS = 200
MAX_ID_CHARS = 255
MAX_INSERT_ID_CHARS = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_decode_any = msgspec.json.Decoder()
_encode = msgspec.json.encode


class _Problem(Exception):
    """The first failed check of one event; caught in ``Validator.check``, never escapes."""

    def __init__(self, code: RejectionCode, reason: str, field: str | None) -> None:
        super().__init__(reason)
        self.code, self.reason, self.field = code, reason, field


def _missing(name: str, field: str) -> _Problem:
    return _Problem(RejectionCode.MISSING_FIELD, f"Missing required field: {name}", field)


def _invalid(name: str, rule: str, field: str) -> _Problem:
    return _Problem(RejectionCode.INVALID_FIELD, f"Invalid field: {name} must be {rule}", field)


class Validator:
    """Checks events against the envelope rules and the taxonomy, with the configured limits."""

    def __init__(self, settings: Settings) -> None:
        self.max_event_bytes = settings.max_event_bytes
        self.max_depth = settings.max_properties_depth
        self.min_timestamp = settings.min_timestamp
        min_us = parse_iso(settings.min_timestamp)
        if min_us is None:
            raise ValueError(
                f"min_timestamp {settings.min_timestamp!r} is not ISO 8601 with a zone"
            )
        self.min_us = min_us
        self.max_future_us = settings.max_future_seconds * 1_000_000
        self.future_text = f"{settings.max_future_seconds / 3600:g} hours"

    def check(self, raw: msgspec.Raw | bytes, index: int, now_us: int) -> ValidEvent | Rejection:
        """Validate one event's JSON; ``index`` only labels the rejection."""
        doc, exact = _decode_event(raw)
        return self.check_document(doc, index, now_us, len(raw), exact)

    def check_document(
        self, doc: Any, index: int, now_us: int, size: int | None = None, exact: bool = True
    ) -> ValidEvent | Rejection:
        """Validate an event already decoded (a CSV row, say); ``size`` is its JSON length,
        measured here when not given."""
        if size is None:
            size = len(_encode(doc))
        try:
            return self._check(doc, size, exact, now_us)
        except _Problem as problem:
            name = doc.get("event") if type(doc) is dict else None
            return Rejection(
                index,
                name if type(name) is str else None,
                problem.reason,
                problem.code,
                problem.field,
            )

    def _check(self, doc: Any, size: int, exact: bool, now_us: int) -> ValidEvent:
        if type(doc) is not dict:
            raise _Problem(RejectionCode.NOT_AN_OBJECT, "Event must be a JSON object", None)
        if size > self.max_event_bytes:
            reason = f"Event too large: {size} bytes (limit {self.max_event_bytes})"
            raise _Problem(RejectionCode.TOO_LARGE, reason, None)
        name = _event_name(doc.get("event"))
        timestamp_us = self._timestamp(doc.get("timestamp"), now_us)
        spec = TAXONOMY.get(name)
        user_id = _optional_string(doc, "user_id", MAX_ID_CHARS)
        anonymous_id = _optional_string(doc, "anonymous_id", MAX_ID_CHARS)
        if user_id is None and spec is not None and spec.needs_user_id:
            raise _missing("user_id", "user_id")
        if user_id is None and anonymous_id is None:
            raise _missing("user_id or anonymous_id", "user_id")
        insert_id = _optional_string(doc, "insert_id", MAX_INSERT_ID_CHARS)
        _reject_unknown_fields(doc)
        properties = doc.get("properties")
        if properties is not None and type(properties) is not dict:
            raise _invalid("properties", "an object", "properties")
        if spec is not None:
            _check_properties(properties or {}, spec.required)
        return ValidEvent(
            name,
            user_id,
            anonymous_id,
            timestamp_us,
            self._encode_properties(properties, exact),
            insert_id,
            properties["transaction_id"] if name in REVENUE_EVENTS and properties else None,
        )

    def _timestamp(self, value: object, now_us: int) -> int:
        if value is None:
            raise _missing("timestamp", "timestamp")
        micros = parse_iso(value)
        if micros is None:
            rule = "an ISO 8601 date-time with a timezone, like 2024-03-15T14:20:00Z"
            raise _invalid("timestamp", rule, "timestamp")
        if micros < self.min_us:
            raise _invalid("timestamp", f"at or after {self.min_timestamp}", "timestamp")
        if micros > now_us + self.max_future_us:
            reason = f"Invalid field: timestamp is more than {self.future_text} in the future"
            raise _Problem(RejectionCode.INVALID_FIELD, reason, "timestamp")
        return micros

    def _encode_properties(self, properties: dict[str, Any] | None, exact: bool) -> bytes | None:
        if not properties:
            return None if properties is None else b"{}"
        encoded = _encode(properties)
        # Cheap bound first: fewer brackets than the limit means no deeper nesting is possible.
        brackets = encoded.count(b"{") + encoded.count(b"[")
        if brackets > self.max_depth and _depth(properties) > self.max_depth:
            rule = f"nested at most {self.max_depth} levels deep"
            raise _invalid("properties", rule, "properties")
        if not exact:
            _reject_non_finite(properties, "properties")
        return encoded


def _decode_event(raw: msgspec.Raw | bytes) -> tuple[Any, bool]:
    """Decode one event; the bool says whether every number was representable exactly."""
    try:
        return _decode_any.decode(raw), True
    except msgspec.ValidationError:
        # A number out of range (1e309, a 5,000-digit integer): Python's json reads it as inf,
        # which the property rules then reject with the name of the field that holds it.
        return json.loads(bytes(raw), parse_int=_parse_int), False
    except msgspec.DecodeError:
        raise InvalidJson("The body is not valid UTF-8") from None
    except RecursionError:
        raise InvalidJson("The body is not valid JSON: it is nested too deeply") from None


def _parse_int(text: str) -> int | float:
    """Integers too long for Python's int parser become inf, so they are rejected, not a 500."""
    return int(text) if len(text) <= 4000 else math.inf


def _event_name(value: object) -> str:
    if value is None:
        raise _missing("event", "event")
    if (
        type(value) is not str
        or not 0 < len(value) <= MAX_EVENT_NAME_CHARS
        or _CONTROL.search(value)
    ):
        rule = f"a string of 1 to {MAX_EVENT_NAME_CHARS} characters without control characters"
        raise _invalid("event", rule, "event")
    return value


def _optional_string(doc: dict[str, Any], name: str, max_length: int) -> str | None:
    value = doc.get(name)
    if value is None or (
        type(value) is str and 0 < len(value) <= max_length and "\x00" not in value
    ):
        return value  # no NUL: PostgreSQL's text cannot hold it, and no id needs one
    raise _invalid(name, f"a string of 1 to {max_length} characters without NUL", name)


def _reject_unknown_fields(doc: dict[str, Any]) -> None:
    if not ENVELOPE_FIELDS.issuperset(doc):
        for name in doc:
            if name not in ENVELOPE_FIELDS:
                reason = f"Unknown field: {name} (event-specific fields belong in properties)"
                raise _Problem(RejectionCode.UNKNOWN_FIELD, reason, name)


_CHECKS = {name: rule.check for name, rule in PROPERTY_RULES.items()}


def _check_properties(properties: dict[str, Any], required: tuple[str, ...]) -> None:
    for name in required:
        if properties.get(name) is None:
            raise _missing(name, f"properties.{name}")
    checks = _CHECKS
    for name, value in properties.items():
        check = checks.get(name)
        if check is not None and value is not None and not check(value):
            raise _invalid(name, PROPERTY_RULES[name].rule, f"properties.{name}")


def _depth(value: Any) -> int:
    if type(value) is dict:
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if type(value) is list:
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _reject_non_finite(value: Any, path: str) -> None:
    if type(value) is float and not math.isfinite(value):
        raise _invalid(path, "a finite number", path)
    children = (
        value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    )
    for key, child in children:
        _reject_non_finite(child, f"{path}.{key}")
