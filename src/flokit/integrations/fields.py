"""Reading untrusted provider payloads: every helper answers a value of the right type or None,
never raises, so a mapper turns any JSON into events or drops with a reason."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from flokit.pipeline.validate import MAX_ID_CHARS
from flokit.timestamps import format_iso, parse_iso

#: Event times a provider may send: from 2000-01-01 to 2100-01-01, in seconds. A value outside
#: that range in the unit the provider documents is in the wrong unit (or not a time at all).
_MIN_S, _MAX_S = 946_684_800, 4_102_444_800
MAX_ID = MAX_ID_CHARS  # a mapped id becomes an event's user_id: the Events API's limit
MAX_INTEGER = 2**53  # beyond it JSON numbers lose precision in most readers
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?")
_INTEGER = re.compile(r"-?[0-9]{1,15}")


def obj(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` if both are objects, else an empty object."""
    if isinstance(value, dict):
        found = value.get(key)
        if isinstance(found, dict):
            return found
    return {}


def text(value: dict[str, Any], key: str) -> str | None:
    """A non-empty string of at most 255 characters, else None."""
    found = value.get(key)
    if type(found) is str and 0 < len(found) <= MAX_ID:
        return found
    return None


def number(value: Any) -> float | None:
    """A finite JSON number (not a boolean, not a string)."""
    if type(value) is int:
        return float(value) if abs(value) < 1e300 else None
    if type(value) is float and math.isfinite(value):
        return value
    return None


def integer(value: Any) -> int | None:
    """A JSON integer (not a boolean, not a string) that JSON readers keep exactly."""
    return value if type(value) is int and abs(value) <= MAX_INTEGER else None


def decimal_text(value: Any) -> float | None:
    """A query parameter that spells a finite decimal number (Adjust's placeholders)."""
    if type(value) is not str or not _DECIMAL.fullmatch(value):
        return None
    return number(float(value))


def integer_text(value: Any) -> int | None:
    """A query parameter that spells an integer (Adjust's ``created_at``)."""
    if type(value) is not str or not _INTEGER.fullmatch(value):
        return None
    return integer(int(value))


def iso_from_seconds(seconds: int | None) -> str | None:
    """Unix seconds as ISO 8601 UTC; None if absent or not in seconds."""
    if seconds is None or not _MIN_S <= seconds <= _MAX_S:
        return None
    return format_iso(seconds * 1_000_000)


def iso_from_millis(value: Any) -> str | None:
    """Unix milliseconds as ISO 8601 UTC; None if absent, not an integer, or not in ms."""
    millis = integer(value)
    if millis is None or not _MIN_S * 1000 <= millis <= _MAX_S * 1000:
        return None
    return format_iso(millis * 1000)


def iso_from_iso(value: Any) -> str | None:
    """An ISO 8601 date-time with a zone (``+0000`` too), normalised to UTC ``Z``."""
    micros = parse_iso(value)
    if micros is None or not _MIN_S * 1_000_000 <= micros <= _MAX_S * 1_000_000:
        return None
    return format_iso(micros)


def currency(value: dict[str, Any], key: str) -> str | None:
    """An ISO 4217 code, upper-cased (Stripe sends lower case); None if not one."""
    found = value.get(key)
    if type(found) is str and _CURRENCY.fullmatch(found.upper()):
        return found.upper()
    return None


def country(value: dict[str, Any], key: str) -> str | None:
    """An ISO 3166-1 alpha-2 code, upper-cased; None if not one (it is optional)."""
    found = value.get(key)
    if type(found) is str and _COUNTRY.fullmatch(found.upper()):
        return found.upper()
    return None


def dedup_id(*parts: str | None) -> str:
    """A stable id for a provider event that has none of its own (Adapty, Adjust): the same
    delivery always gives the same id, so its redelivery is a duplicate."""
    joined = "\x1f".join(part or "" for part in parts)
    return hashlib.sha256(joined.encode()).hexdigest()[:40]


def present(**values: Any) -> dict[str, Any]:
    """The properties that have a value (an absent optional property is left out)."""
    return {name: value for name, value in values.items() if value is not None}
