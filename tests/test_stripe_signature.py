"""Stripe-Signature (integrations.md §3) against a vector computed outside this code."""

from __future__ import annotations

import pytest

from flokit.integrations.stripe_signature import (
    MalformedSignature,
    MissingSignature,
    SignatureError,
    SignatureMismatch,
    StaleSignature,
    expected_signature,
    verify,
)

# The vector, computed independently on the shell:
#   printf '%s' '1797847200.{"id":"evt_1QiD4bEaZvKYlo2C8nJk3sWp","object":"event",' \
#     '"type":"customer.subscription.updated"}' \
#     | openssl dgst -sha256 -hmac 'whsec_9f3kQ2vLx8TzA1mN5pR7sW0yB4cE6gH'
#   SHA2-256(stdin)= 56de865831109df09b48b62adc232ba73553d050879221e6fe64f810b4eb2030
# and the same with -hmac 'whsec_OLDrolledSecret2mN5pR7sW0yB4cE6gJ':
#   SHA2-256(stdin)= 52e493958455feda166745baf75a5fcf48f74fdd099fc7db3a0e743775b6c554
BODY = (
    b'{"id":"evt_1QiD4bEaZvKYlo2C8nJk3sWp","object":"event","type":"customer.subscription.updated"}'
)
T = 1797847200
SECRET = "whsec_9f3kQ2vLx8TzA1mN5pR7sW0yB4cE6gH"
OLD_SECRET = "whsec_OLDrolledSecret2mN5pR7sW0yB4cE6gJ"
V1 = "56de865831109df09b48b62adc232ba73553d050879221e6fe64f810b4eb2030"
V1_OLD = "52e493958455feda166745baf75a5fcf48f74fdd099fc7db3a0e743775b6c554"
HEADER = f"t={T},v1={V1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"


def test_the_independent_vector() -> None:
    assert expected_signature(SECRET, str(T), BODY) == V1
    assert expected_signature(OLD_SECRET, str(T), BODY) == V1_OLD


def test_good_signature_passes() -> None:
    verify(HEADER, BODY, [SECRET], now_s=T + 5)


@pytest.mark.parametrize("skew", [-300, 300])
def test_tolerance_is_inclusive_at_300_seconds(skew: int) -> None:
    verify(HEADER, BODY, [SECRET], now_s=T + skew)


@pytest.mark.parametrize("skew", [-301, 301, 10**6])
def test_stale_timestamps_are_rejected(skew: int) -> None:
    with pytest.raises(StaleSignature):
        verify(HEADER, BODY, [SECRET], now_s=T + skew)


def test_a_rolled_secret_matches_either_v1() -> None:
    """While Stripe rolls a secret it signs with both; the integration may hold either."""
    rolling = f"t={T},v1={V1_OLD},v1={V1}"
    verify(rolling, BODY, [SECRET], now_s=T)
    verify(rolling, BODY, [OLD_SECRET], now_s=T)
    verify(f"t={T},v1={V1_OLD}", BODY, [SECRET, OLD_SECRET], now_s=T)


@pytest.mark.parametrize(
    ("header", "body", "secrets"),
    [
        (HEADER, BODY + b" ", [SECRET]),  # one byte more: never re-serialized JSON
        (HEADER, BODY, ["whsec_someone_else"]),
        (HEADER, BODY, []),
        (f"t={T + 1},v1={V1}", BODY, [SECRET]),  # the timestamp is signed
        (f"t={T},v0={V1},v1={'0' * 64}", BODY, [SECRET]),  # only v1 counts
    ],
)
def test_bad_signatures_are_rejected(header: str, body: bytes, secrets: list[str]) -> None:
    with pytest.raises(SignatureMismatch):
        verify(header, body, secrets, now_s=T)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header: str | None) -> None:
    with pytest.raises(MissingSignature):
        verify(header, BODY, [SECRET], now_s=T)


@pytest.mark.parametrize(
    "header",
    [
        f"v1={V1}",  # no t
        f"t={T}",  # no v1
        f"t=abc,v1={V1}",
        f"t=-{T},v1={V1}",
        f"t={T},t={T},v1={V1}",
        f"t={T},v1={V1.upper()}",  # Stripe's hex is lowercase
        f"t={T},v1={V1[:-1]}",
        f"t={T},v1={V1}é",
        f"t={T};v1={V1}",
        "garbage",
        f"t={T},v1={V1}," + "v1=00," * 2000,
    ],
)
def test_malformed_headers(header: str) -> None:
    with pytest.raises(MalformedSignature):
        verify(header, BODY, [SECRET], now_s=T)


def test_every_failure_is_a_401() -> None:
    for failure in (MissingSignature, MalformedSignature, StaleSignature, SignatureMismatch):
        assert issubclass(failure, SignatureError)
        assert failure().status == 401
