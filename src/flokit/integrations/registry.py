"""The provider registry: how every provider's deliveries are authenticated and mapped.

A provider is data (``Provider``): where its deliveries arrive, how the receiver finds the
integration a delivery belongs to, how the delivery is authenticated, how its payload is read,
and a pure mapper from that payload to canonical events or drops. The receiver
(``flokit.api.integrations``) does everything else: reading under the size cap, storing,
counting and answering. A new provider is one module with a ``PROVIDER`` and one line in
``providers()``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import msgspec

from flokit.integrations.outcome import Mapped, Memory, ProviderType


class IntegrationSettings(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    """An integration's own mapping choices (kept with it, as JSON)."""

    #: Adapty: an event name as the app's Adapty dashboard sends it → Adapty's default name
    #: (``trial_started``, ``subscription_renewed``…), for renamed events.
    event_names: dict[str, str] = {}
    #: Adjust: an event token → the canonical event name it stands for.
    event_tokens: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class MapContext:
    """What a mapper may know beyond the payload. ``now_s`` is the receipt time (unix s)."""

    keep_sandbox: bool
    memory: Memory
    now_s: float
    settings: IntegrationSettings


class Mapper(Protocol):
    """A pure function: one parsed delivery → canonical events and drops, in delivery order.
    It raises nothing for any JSON value: a payload that is not the provider's shape at all
    raises ``NotProviderShape`` (answered 400); anything else is a ``Dropped`` with its reason."""

    def __call__(self, payload: Any, ctx: MapContext) -> list[Mapped]: ...


class NotProviderShape(ValueError):
    """The delivery parsed but is not this provider's payload at all (400, nothing stored)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One request as the provider sent it: header names lower-case, the body unparsed."""

    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """What the store keeps of an integration's secret: the SHA-256 of a secret FloKit
    generated (RevenueCat, Adapty, Adjust), or a signing secret the provider gave (Stripe)."""

    secret_hash: str | None
    signing_secret: str | None


class Authenticator(Protocol):
    """Whether ``delivery`` was sent by the holder of ``secret``; comparisons constant-time.
    ``now_s`` is for signatures with a time tolerance."""

    def __call__(self, delivery: Delivery, secret: StoredSecret, now_s: float) -> bool: ...


class Locate(StrEnum):
    """How the receiver finds the integration a delivery belongs to."""

    BY_SECRET = "by_secret"  # the hash of the presented secret (one URL for all integrations)
    BY_PATH_ID = "by_path_id"  # the integration id in the URL path (Stripe)


Credential = Callable[[Delivery], str | None]


@dataclass(frozen=True, slots=True)
class Provider:
    """Everything provider-specific about receiving one provider's deliveries."""

    type: ProviderType
    path: str  # the receiver's route; BY_PATH_ID paths end in ``{integration_id}``
    methods: tuple[str, ...]
    locate: Locate
    map: Mapper
    authenticate: Authenticator
    #: BY_SECRET: the secret the delivery presents (None: it presents none → 401).
    credential: Credential | None = None
    #: The payload the mapper reads; by default the JSON body.
    payload: Callable[[Delivery], Any] | None = None
    generates_secret: bool = True  # False: the provider gives one (Stripe's whsec_…)
    uses_memory: bool = False  # the mapper reads Memory: it runs in a thread, not on the loop


def hash_secret(secret: str) -> str:
    """The only form in which a generated integration secret is kept: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def credential_matches(credential: Credential) -> Authenticator:
    """The authenticator of a provider that presents a generated secret as it was given."""

    def authenticate(delivery: Delivery, secret: StoredSecret, now_s: float) -> bool:
        presented = credential(delivery)
        if presented is None or secret.secret_hash is None:
            return False
        return hmac.compare_digest(hash_secret(presented), secret.secret_hash)

    return authenticate


def secret_provider(
    type: ProviderType,
    path: str,
    map: Mapper,
    credential: Credential,
    methods: tuple[str, ...] = ("POST",),
    payload: Callable[[Delivery], Any] | None = None,
) -> Provider:
    """A provider located by the generated secret its deliveries present (``credential``), and
    authenticated by that same secret: the two always go together."""
    return Provider(
        type=type,
        path=path,
        methods=methods,
        locate=Locate.BY_SECRET,
        map=map,
        authenticate=credential_matches(credential),
        credential=credential,
        payload=payload,
    )


def providers() -> dict[ProviderType, Provider]:
    """Every provider this FloKit receives from, by type."""
    from flokit.integrations import adapty, adjust, revenuecat, stripe_provider

    found = [revenuecat.PROVIDER, adapty.PROVIDER, stripe_provider.PROVIDER, adjust.PROVIDER]
    return {provider.type: provider for provider in found}
