"""Spend rows and exchange rates as clients send them (analytics.md §3 and §4): checked one by
one, so a request keeps its good rows and names each bad one, the way batches do."""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from flokit.domain.calendar import parse_day

CURRENCY = re.compile(r"[A-Z]{3}")
COUNTRY = re.compile(r"[A-Z]{2}")
MAX_TEXT = 255
SPEND_FIELDS = frozenset(
    {"date", "channel", "campaign_id", "ad_set_id", "creative_id", "country", "spend", "currency"}
)
RATE_FIELDS = frozenset({"date", "currency", "rate", "base"})


class SpendRow(msgspec.Struct, frozen=True):
    """One day of one ad's cost. Missing optional dimensions are ``""`` (part of the key)."""

    day: int
    channel: str
    campaign_id: str
    ad_set_id: str
    creative_id: str
    country: str
    amount: int  # millionths of ``currency``
    currency: str


class FxRate(msgspec.Struct, frozen=True):
    """On ``day``, one unit of ``currency`` is worth ``rate`` units of ``base``."""

    day: int
    base: str
    currency: str
    rate: float


class RowError(msgspec.Struct, frozen=True):
    """Why one row of a request was not stored (an entry of ``errors``)."""

    index: int
    reason: str
    field: str | None = None


class BadRow(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def _object(raw: object, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadRow("a row must be a JSON object")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise BadRow(f"unknown field {unknown[0]}", unknown[0])
    return raw


def _day(row: dict[str, Any]) -> int:
    day = parse_day(row.get("date"))
    if day is None:
        raise BadRow("date must be a date YYYY-MM-DD", "date")
    return day


def _text(row: dict[str, Any], name: str, required: bool) -> str:
    value = row.get(name)
    if value is None and not required:
        return ""
    if type(value) is not str or not value.strip() or len(value) > MAX_TEXT:
        raise BadRow(f"{name} must be a non-empty string of at most {MAX_TEXT} characters", name)
    return value


def _code(row: dict[str, Any], name: str, pattern: re.Pattern[str], default: str) -> str:
    value = row.get(name)
    if value is None:
        return default
    if type(value) is not str or not pattern.fullmatch(value):
        what = "three uppercase letters (ISO 4217)" if pattern is CURRENCY else "two uppercase"
        raise BadRow(f"{name} must be {what}{'' if pattern is CURRENCY else ' letters'}", name)
    return value


def _number(row: dict[str, Any], name: str) -> float:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRow(f"{name} must be a finite number", name)
    return float(value)


#: The most one row may spend: its millionths, summed over every row of a long range, stay
#: far inside a 64-bit integer (a larger amount was a 500: SQLite cannot store it).
MAX_SPEND = 1_000_000_000


def spend_row(raw: object, reporting_currency: str) -> SpendRow:
    """A checked spend row (``currency`` defaults to the workspace's reporting currency)."""
    row = _object(raw, SPEND_FIELDS)
    amount = _number(row, "spend")
    if not 0 <= amount <= MAX_SPEND:
        raise BadRow(f"spend must be from 0 to {MAX_SPEND:,}", "spend")
    return SpendRow(
        day=_day(row),
        channel=_text(row, "channel", True),
        campaign_id=_text(row, "campaign_id", True),
        ad_set_id=_text(row, "ad_set_id", False),
        creative_id=_text(row, "creative_id", False),
        country=_code(row, "country", COUNTRY, ""),
        amount=round(amount * 1_000_000),
        currency=_code(row, "currency", CURRENCY, reporting_currency),
    )


def fx_rate(raw: object, reporting_currency: str) -> FxRate:
    """A checked rate (``base`` defaults to the workspace's reporting currency)."""
    row = _object(raw, RATE_FIELDS)
    rate = _number(row, "rate")
    if rate <= 0:
        raise BadRow("rate must be more than 0", "rate")
    if row.get("currency") is None:
        raise BadRow("currency is required", "currency")
    return FxRate(
        day=_day(row),
        base=_code(row, "base", CURRENCY, reporting_currency),
        currency=_code(row, "currency", CURRENCY, ""),
        rate=rate,
    )
