"""Stripe in the provider registry: the receiver's route, its signature check and its mapper.

Stripe signs each delivery with the endpoint's signing secret, which the integration keeps
(``--signing-secret``; several, separated by commas, while a secret is rolled). Deliveries name
their integration in the URL path, since the signature can only be checked once its secret is
known."""

from __future__ import annotations

from flokit.integrations.outcome import ProviderType
from flokit.integrations.registry import Delivery, Locate, Provider, StoredSecret
from flokit.integrations.stripe import map_stripe
from flokit.integrations.stripe_signature import HEADER, verify


def signing_secrets(secret: StoredSecret) -> list[str]:
    """The integration's signing secrets (several while one is rolled)."""
    kept = secret.signing_secret or ""
    return [part.strip() for part in kept.split(",") if part.strip()]


def authenticate(delivery: Delivery, secret: StoredSecret, now_s: float) -> bool:
    """True, or a ``SignatureError`` (401) that names what is wrong."""
    verify(delivery.headers.get(HEADER), delivery.body, signing_secrets(secret), now_s)
    return True


PROVIDER = Provider(
    type=ProviderType.STRIPE,
    path="/v1/integrations/stripe/webhook/{integration_id}",
    methods=("POST",),
    locate=Locate.BY_PATH_ID,
    map=map_stripe,
    authenticate=authenticate,
    generates_secret=False,
    uses_memory=True,
)
