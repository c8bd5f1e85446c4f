"""The OpenAPI paths of integrations: managing them, and the provider receivers."""

from __future__ import annotations

from typing import Any

from flokit.integrations.outcome import DropReason, ProviderType
from flokit.integrations.registry import Locate, providers

_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


INTEGRATION = _object(
    ["id", "type", "status", "last_synced_at", "error_message", "sync_stats", "dropped"],
    id={"type": "string"},
    type={"enum": [t.value for t in ProviderType]},
    status={"enum": ["connected", "error", "syncing", "disconnected"]},
    last_synced_at=_TIME_OR_NULL,
    error_message={"type": ["string", "null"]},
    sync_stats=_object(
        ["events_last_24h", "events_total", "earliest_event_at"],
        events_last_24h={"type": "integer"},
        events_total={"type": "integer"},
        earliest_event_at=_TIME_OR_NULL,
    ),
    dropped={"type": "object", "additionalProperties": {"type": "integer"}},
    errors={"type": "array", "items": {"type": "object"}},
    url={"type": ["string", "null"], "description": "What to configure at the provider"},
    secret={"type": "string", "description": "Generated secret: only in the 201 of a create"},
)
NEW_INTEGRATION = _object(
    ["type"],
    type={"enum": [t.value for t in ProviderType]},
    keep_sandbox={"type": "boolean", "default": False},
    signing_secret={"type": "string", "description": "Stripe's whsec_… (Stripe only)"},
    event_names={"type": "object", "additionalProperties": {"type": "string"}},
    event_tokens={"type": "object", "additionalProperties": {"type": "string"}},
)
DELIVERY_ANSWER = _object(
    ["status", "accepted", "duplicates", "dropped", "event_ids", "reasons"],
    status={"const": "ok"},
    accepted={"type": "integer"},
    duplicates={"type": "integer"},
    dropped={"type": "integer"},
    event_ids={"type": "array", "items": {"type": "string"}},
    reasons={
        "type": "array",
        "items": _object(
            ["reason", "detail"],
            reason={"enum": [r.value for r in DropReason]},
            detail={"type": "string"},
        ),
    },
)


def integration_paths(errors: Any, json: Any, path: Any, secured: Any) -> dict[str, Any]:
    """Integration management and every registered provider's receiver."""
    paths: dict[str, Any] = {
        "/v1/integrations": {
            "post": {
                "summary": "Create an integration (read-write key); its secret is shown once",
                "security": secured,
                "requestBody": {"content": {"application/json": {"schema": NEW_INTEGRATION}}},
                "responses": {
                    "201": json(INTEGRATION, "Created"),
                    **errors("400", "401", "403", "500"),
                },
            },
            "get": {
                "summary": "The workspace's integrations",
                "security": secured,
                "responses": {
                    "200": json(
                        _object(
                            ["integrations"], integrations={"type": "array", "items": INTEGRATION}
                        ),
                        "Every integration",
                    ),
                    **errors("401", "500"),
                },
            },
        },
        "/v1/integrations/{integration_id}": {
            "get": {
                "summary": "One integration with its counts, drops and last errors",
                "security": secured,
                "parameters": [path("integration_id")],
                "responses": {
                    "200": json(INTEGRATION, "The integration"),
                    **errors("401", "404", "500"),
                },
            }
        },
    }
    for provider in providers().values():
        operation = {
            "summary": f"{provider.type.value} deliveries (authenticated by the provider's secret)",
            "security": [],
            "responses": {
                "200": json(DELIVERY_ANSWER, "Authenticated and read; what happened to it"),
                **errors("400", "401", "413", "503"),
            },
        }
        if provider.locate is Locate.BY_PATH_ID:
            operation["parameters"] = [path("integration_id")]
        paths[provider.path] = {method.lower(): operation for method in provider.methods}
    return paths
