"""Query-string paging shared by the list endpoints: allowed parameters, ``limit``, and opaque
cursors (base64 of a small text that the endpoint alone gives meaning to)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping
from typing import Annotated, TypeVar

import msgspec
from msgspec import Meta

from flokit.errors import InvalidRequest

Row = TypeVar("Row")
#: The ``cursor`` query parameter of every paged list.
CursorParam = Annotated[str | None, Meta(description="next_cursor of the previous page")]


def param_names(params: type[msgspec.Struct]) -> tuple[str, ...]:
    """The query parameters an endpoint takes: the fields of its parameters struct (the one
    the OpenAPI document shows)."""
    return params.__struct_fields__


def check_params(params: Mapping[str, str], allowed: Collection[str]) -> None:
    """A 400 naming the first query parameter the endpoint does not take."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidRequest(
            f"Unknown query parameter {unknown[0]}; allowed: {', '.join(allowed)}", field=unknown[0]
        )


def page_limit(raw: str | None, default: int, maximum: int, name: str = "limit") -> int:
    """A whole number from 1 to ``maximum`` (``default`` if absent), or a 400 naming it."""
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise InvalidRequest(f"{name} must be an integer from 1 to {maximum}", field=name)
    return int(raw)


def split_page(rows: list[Row], limit: int) -> tuple[list[Row], Row | None]:
    """A page of ``limit`` rows out of ``rows``, fetched with one row more than asked (which
    tells whether a next page exists), and the row the next page starts after: the page's last
    row when there is a next page, else None."""
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1]
    return rows, None


def encode_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, shape: re.Pattern[str]) -> re.Match[str] | None:
    """The cursor's text matched against ``shape``; None for no cursor, a 400 for any other."""
    if raw is None:
        return None
    try:
        found = shape.fullmatch(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError):
        found = None
    if found is None:
        raise InvalidRequest("cursor is not a cursor this API returned", field="cursor")
    return found
