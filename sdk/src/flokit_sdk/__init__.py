"""FloKit Events API client: batching, gzip and retries that never drop or duplicate an event.

from flokit_sdk import Client

with Client("fk_rw_...", base_url="https://flokit.example.com") as flokit:
    flokit.track("paywall_viewed", user_id="usr_1", properties={"paywall_id": "pw_1"})
"""

from flokit_sdk._async import AsyncClient
from flokit_sdk._core import DeliveryReport, RetryPolicy, make_event
from flokit_sdk._sync import Client
from flokit_sdk.errors import (
    APIError,
    AuthenticationError,
    FloKitError,
    PermissionDeniedError,
    RetriesExhaustedError,
)
from flokit_sdk.results import BatchResult, EventError

__all__ = [
    "APIError",
    "AsyncClient",
    "AuthenticationError",
    "BatchResult",
    "Client",
    "DeliveryReport",
    "EventError",
    "FloKitError",
    "PermissionDeniedError",
    "RetriesExhaustedError",
    "RetryPolicy",
    "make_event",
]
__version__ = "0.1.0"
