"""Days as reports count them: UTC calendar days, numbered from 1970-01-01 (day 0)."""

from __future__ import annotations

import datetime as dt
import re

DAY_US = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def day_of(micros: int) -> int:
    """The UTC day of a timestamp in microseconds."""
    return micros // DAY_US


def parse_day(text: object) -> int | None:
    """``YYYY-MM-DD`` as a day number; None when it is not such a date."""
    if type(text) is not str or not _DATE.fullmatch(text):
        return None
    try:
        return (dt.date.fromisoformat(text) - _EPOCH).days
    except ValueError:
        return None


def format_day(day: int) -> str:
    return (_EPOCH + dt.timedelta(days=day)).isoformat()


def week_of(day: int) -> int:
    """The Monday (ISO week start) of a day's week (day 0 was a Thursday)."""
    return day - (day + 3) % 7
