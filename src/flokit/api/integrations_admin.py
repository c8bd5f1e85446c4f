"""``POST /v1/integrations`` and ``PATCH /v1/integrations/{id}`` (read-write key),
``GET /v1/integrations[/{id}]`` (any key)."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from flokit.errors import InvalidJson, InvalidRequest, NotFound
from flokit.http import json_response, note
from flokit.integrations import admin
from flokit.integrations.records import Integration
from flokit.pipeline.auth import authenticate, require_write
from flokit.pipeline.receive import read_body
from flokit.services import Services, services

MAX_BODY = 64 * 1024
T = TypeVar("T")


async def create_integration(request: Request) -> Response:
    """201 with the integration, the URL to paste at the provider and its secret (once)."""
    note(request, route="integrations_create")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    require_write(key)
    asked = await _decode(request, admin.NewIntegration, "integration")
    try:
        integration, secret = await admin.create(
            svc.store, key.workspace_id, key.workspace_public_id, asked
        )
    except admin.CreateError as exc:
        raise InvalidRequest(str(exc)) from None
    described = await _describe(svc, integration, _base_url(request), secret)
    return json_response(described, 201, {"Location": f"/v1/integrations/{integration.id}"})


async def list_integrations(request: Request) -> Response:
    note(request, route="integrations_list")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    found = await svc.store.list_integrations(key.workspace_id)
    base = _base_url(request)
    return json_response({"integrations": [await _describe(svc, i, base) for i in found]})


async def get_integration(request: Request) -> Response:
    note(request, route="integrations_get")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    integration = await _owned(request, svc, key.workspace_id)
    return json_response(await _describe(svc, integration, _base_url(request)))


async def set_signing_secret(request: Request) -> Response:
    """200 with the integration once its signing secret is replaced or added (Stripe)."""
    note(request, route="integrations_set_secret")
    svc = services(request)
    key = await authenticate(request.headers, svc.store)
    require_write(key)
    asked = await _decode(request, admin.NewSigningSecret, "signing secret change")
    found = await _owned(request, svc, key.workspace_id)
    try:
        changed = await admin.set_signing_secret(svc.store, found, asked)
    except admin.SecretError as exc:
        raise InvalidRequest(str(exc)) from None
    return json_response(await _describe(svc, changed, _base_url(request)))


async def _decode(request: Request, kind: type[T], what: str) -> T:
    """The JSON body as ``kind``; a 400 that says what it should have been."""
    body = await read_body(request.headers, request.stream(), MAX_BODY, gzipped=False)
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"Invalid {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidJson(f"Body is not valid JSON ({exc})") from None


async def _owned(request: Request, svc: Services, workspace_id: int) -> Integration:
    """The integration the path names, if it is this workspace's; otherwise a 404."""
    integration_id = request.path_params["integration_id"]
    found = await svc.store.get_integration(integration_id)
    if found is None or found.workspace_id != workspace_id:
        raise NotFound(f"No integration {integration_id[:100]} in this workspace")
    return found


async def _describe(
    svc: Services, integration: Integration, base_url: str, secret: str | None = None
) -> dict[str, Any]:
    stats = await svc.store.integration_stats(integration.id, svc.now_us())
    return admin.describe(integration, stats, base_url, secret)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")
