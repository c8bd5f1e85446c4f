"""Stripe's webhook signature (integrations.md §3), checked before the body is parsed.

``Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=…]``: each ``v1`` is the hex
HMAC-SHA256 of ``<t>.<raw body>`` keyed with an endpoint signing secret (``whsec_…`` as given).
Several ``v1`` appear while Stripe rolls a secret, and an integration may hold several secrets
(the old one until it expires): any secret matching any ``v1`` passes. Other schemes (``v0``)
are ignored. Every failure is a 401 whose message names the problem; nothing is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from flokit.errors import Unauthorized

HEADER = "stripe-signature"
#: Stripe's own libraries default to five minutes; the spec bounds |now - t| by it.
TOLERANCE_S = 300
#: A real header is ~150 characters; a longer one is not worth parsing.
MAX_HEADER_CHARS = 4096
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIGITS = re.compile(r"[0-9]{1,12}")


class SignatureError(Unauthorized):
    """A Stripe delivery that failed authentication (401, nothing stored)."""


class MissingSignature(SignatureError):
    default_message = "Missing Stripe-Signature header"


class MalformedSignature(SignatureError):
    default_message = "Malformed Stripe-Signature header: expected t=<unix seconds>,v1=<hex>"


class StaleSignature(SignatureError):
    default_message = "Stripe-Signature timestamp is outside the tolerance"


class SignatureMismatch(SignatureError):
    default_message = "No Stripe-Signature v1 matches a signing secret of this integration"


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The hex ``v1`` Stripe computes for ``body`` sent at ``timestamp`` (its decimal text)."""
    signed = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str],
    now_s: float,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Raise a ``SignatureError`` unless ``header`` signs ``body`` (raw bytes, never re-encoded
    JSON) with one of ``secrets`` within ``tolerance_s`` of ``now_s``."""
    if header is None or not header.strip():
        raise MissingSignature()
    timestamp, candidates = _parse(header)
    if abs(now_s - int(timestamp)) > tolerance_s:
        raise StaleSignature(
            f"Stripe-Signature timestamp t={timestamp} is more than {tolerance_s} s from now"
        )
    for secret in secrets:
        expected = expected_signature(secret, timestamp, body).encode("ascii")
        # Every candidate is compared (no early exit on a match) in constant time each.
        matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
        if any(matches):
            return
    raise SignatureMismatch()


def _parse(header: str) -> tuple[str, list[bytes]]:
    """The header's timestamp and its well-formed ``v1`` values (other schemes dropped)."""
    if len(header) > MAX_HEADER_CHARS:
        raise MalformedSignature(f"Malformed Stripe-Signature header: {len(header)} chars")
    timestamp: str | None = None
    candidates: list[bytes] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise MalformedSignature()
        if key == "t":
            if timestamp is not None or _DIGITS.fullmatch(value) is None:
                raise MalformedSignature("Malformed Stripe-Signature header: needs one numeric t=")
            timestamp = value
        elif key == "v1" and _HEX_SHA256.fullmatch(value):
            candidates.append(value.encode("ascii"))
    if timestamp is None:
        raise MalformedSignature("Malformed Stripe-Signature header: no t=<unix seconds>")
    if not candidates:
        raise MalformedSignature("Malformed Stripe-Signature header: no v1=<64 hex digits>")
    return timestamp, candidates
