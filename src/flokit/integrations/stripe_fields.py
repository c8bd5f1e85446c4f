"""Reading a Stripe event's fields defensively: a webhook body is client input, so every field
is checked for presence, type and range, and a problem becomes a ``Drop`` (never a 500).

Also the currency rules: amounts are integers in the currency's minor unit (Stripe's
"zero-decimal" and "three-decimal" lists, docs.stripe.com/currencies), ``currency`` lowercase.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from flokit.integrations import fields
from flokit.integrations.outcome import DropReason

#: Stripe's zero-decimal currencies: the amount is in whole units (500 JPY is ``500``).
ZERO_DECIMAL = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
        "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
#: Stripe's three-decimal currencies: the amount is in thousandths (5.120 KWD is ``5120``).
#: ISK, HUF and TWD are Stripe's "special cases" that stay two-decimal in the API.
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
#: Larger than any real charge or invoice, and small enough to be exact as a float.
MAX_MINOR_UNITS = 10**14
#: Unix seconds up to the year 9999.
MAX_UNIX_S = 253_402_300_799


class Drop(Exception):
    """A field the mapping needs is absent, of the wrong type, or out of range; caught by the
    mapper and answered as ``Dropped``, never raised past it."""

    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def missing(where: str, expected: str) -> Drop:
    return Drop(DropReason.MISSING_FIELD, f"{where} is missing or not {expected}")


def mapping(container: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = container.get(key)
    if type(value) is not dict:
        raise missing(where, "an object")
    return value


def text(container: dict[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not is_id(value):
        raise missing(where, f"a non-empty string of at most {fields.MAX_ID} characters")
    return value


def is_id(value: object) -> TypeGuard[str]:
    return type(value) is str and 0 < len(value) <= fields.MAX_ID and "\x00" not in value


def ref(value: object) -> str | None:
    """An id, or an expanded object's ``id`` (Stripe expands references on request)."""
    if type(value) is dict:
        value = value.get("id")
    return value if is_id(value) else None


def ref_of(container: dict[str, Any], key: str, where: str) -> str:
    found = ref(container.get(key))
    if found is None:
        raise missing(where, "an id (or an object with an id)")
    return found


def minor_units(container: dict[str, Any], key: str, where: str) -> int:
    """A non-negative integer amount in the currency's minor unit."""
    value = container.get(key)
    if type(value) is not int:
        raise missing(where, "an integer amount")
    if not 0 <= value <= MAX_MINOR_UNITS:
        raise Drop(DropReason.INVALID, f"{where} = {value} is out of range 0..{MAX_MINOR_UNITS}")
    return value


def currency(container: dict[str, Any], key: str, where: str) -> str:
    """Stripe's lowercase ISO 4217 code, upper-cased (the providers' one reading of it)."""
    code = fields.currency(container, key)
    if code is None:
        raise missing(where, "a three-letter currency code")
    return code


def major_units(amount: int, code: str) -> int | float:
    """``amount`` minor units of currency ``code`` in whole units (``1999`` USD → ``19.99``)."""
    if code in ZERO_DECIMAL:
        return amount
    return amount / (1000 if code in THREE_DECIMAL else 100)


def unix_seconds(container: dict[str, Any], key: str, where: str) -> int:
    value = container.get(key)
    if type(value) is not int or not 0 < value <= MAX_UNIX_S:
        raise Drop(DropReason.BAD_TIMESTAMP, f"{where} is missing or not unix seconds")
    return value
