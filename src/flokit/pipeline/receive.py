"""Receive stage: check the media type, read the body under a byte cap, gunzip under the same cap.

The cap applies to the bytes on the wire and again to the decompressed bytes (contract §9), so a
gzip bomb costs at most ``limit`` bytes of memory before it is refused with 413.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Mapping

from flokit.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

_ENCODINGS = {"", "identity", "gzip", "x-gzip"}


def check_media_type(headers: Mapping[str, str]) -> bool:
    """Refuse anything but JSON before reading a byte; answer whether the body is gzipped."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType(f"Content-Type must be application/json (got {media or 'none'})")
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in _ENCODINGS:
        raise UnsupportedMediaType(f"Content-Encoding must be gzip or identity (got {encoding})")
    return encoding in ("gzip", "x-gzip")


async def read_body(
    headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int, gzipped: bool
) -> bytes:
    """The request body, decompressed when ``gzipped``, never more than ``limit`` bytes."""
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, "Request body")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, "Request body")
        parts.append(chunk)
    body = b"".join(parts)
    return gunzip(body, limit) if gzipped else body


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a complete gzip stream, refusing output past ``limit`` bytes."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidRequest(f"Request body is not valid gzip data ({exc})") from None
    if len(out) > limit:
        raise _too_large(limit, "Decompressed request body")
    if not inflater.eof:
        raise InvalidRequest("Request body is not valid gzip data (the stream is truncated)")
    return out


def _too_large(limit: int, what: str) -> PayloadTooLarge:
    return PayloadTooLarge(f"{what} exceeds the limit of {limit} bytes")
