"""ISO 8601 ⇄ UTC microseconds: the one place timestamps are parsed and printed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:?[0-9]{2})"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def parse_iso(value: object) -> int | None:
    """An ISO 8601 date-time with a timezone, as UTC microseconds; None if it is not one."""
    if type(value) is not str or _ISO.fullmatch(value) is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:  # 2024-02-30 and other impossible dates
        return None
    return (moment - _EPOCH) // _MICROSECOND


def format_iso(micros: int) -> str:
    """UTC microseconds as ``2024-03-15T14:20:00Z`` (fraction only when there is one)."""
    moment = _EPOCH + timedelta(microseconds=micros)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{moment.microsecond:06d}Z" if moment.microsecond else text + "Z"
