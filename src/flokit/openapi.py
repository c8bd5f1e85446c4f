"""The OpenAPI 3.1 document, generated from the route table (``api/routes.py``): paths and
methods from its endpoints, schemas from their structs (``msgspec.json.schema_components``),
error answers from the errors each endpoint raises (``errors.py``), limits from where they are
defined (constants beside the handlers, and this server's settings). Nothing is written twice."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import msgspec

from flokit import __version__
from flokit.api.table import JSON, Access, Endpoint, Header
from flokit.errors import (
    ErrorBody,
    FloKitError,
    Forbidden,
    InternalError,
    NotFound,
    Unauthorized,
    Unavailable,
)
from flokit.pipeline.limits import WINDOW_S
from flokit.settings import Settings

REF = "#/components/schemas/{name}"
_STRING = {"type": "string"}

REQUEST_ID = Header(
    "X-Request-Id",
    {"type": "string", "pattern": r"^[\x21-\x7e]{1,200}$"},
    "Echoed when the client sent a sane one, else generated (every response carries it)",
)
RATE_LIMIT_POLICY = Header(
    "RateLimit-Policy",
    {"type": "string", "pattern": f'^"ingest";q=[0-9]+;w={WINDOW_S}$'},
    "The workspace's ingest limit: q requests per w seconds (contract §7)",
)
RATE_LIMIT = Header(
    "RateLimit",
    {"type": "string", "pattern": '^"ingest";r=[0-9]+;t=[0-9]+$'},
    "r requests remaining; t seconds until one is admitted again (0: now)",
)
RETRY_AFTER = Header(
    "Retry-After",
    {"type": "string", "pattern": "^[1-9][0-9]*$"},
    "Whole seconds to wait before retrying",
    required=True,
)


def build_document(endpoints: Sequence[Endpoint], settings: Settings) -> dict[str, Any]:
    """The document of ``endpoints`` as this server (``settings``) serves them."""
    bodies = {id(e): e.body(settings) if e.body else {} for e in endpoints}
    types = _described_types(endpoints, bodies.values())
    refs, components = msgspec.json.schema_components(types, ref_template=REF)
    schemas = Schemas(dict(zip(types, refs, strict=True)), components)
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation = _operation(endpoint, bodies[id(endpoint)], schemas)
        paths.setdefault(endpoint.openapi_path, {})[endpoint.method.lower()] = operation
    for params in {e.params for e in endpoints if e.params is not None}:
        components.pop(schemas.name(params), None)  # shown as parameters, not as a schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "FloKit Events API",
            "version": __version__,
            "description": "Generated from the server's route table (src/flokit/api/routes.py).",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "fk_rw_… (send and read) or fk_ro_… (read)",
                }
            },
        },
    }


class Schemas:
    """The generated schemas: the reference of each described type, and the components."""

    def __init__(self, refs: dict[Any, dict[str, Any]], components: dict[str, Any]) -> None:
        self.refs, self.components = refs, components

    def of(self, kind: Any) -> dict[str, Any]:
        return self.refs[kind]

    def name(self, kind: Any) -> str:
        ref: str = self.refs[kind]["$ref"]
        return ref.rsplit("/", 1)[1]

    def properties(self, kind: type[msgspec.Struct]) -> tuple[dict[str, Any], list[str]]:
        """A struct's properties and required names (its query parameters)."""
        schema = self.components[self.name(kind)]
        return schema.get("properties", {}), schema.get("required", [])


def _is_json(media_type: str) -> bool:
    return media_type == JSON or media_type.startswith("multipart/")


def _described_types(
    endpoints: Sequence[Endpoint], bodies: Iterable[Mapping[str, Any]]
) -> list[Any]:
    """Every type the document describes with a schema, each once, in a stable order."""
    found: list[Any] = [ErrorBody]
    for endpoint in endpoints:
        found += [endpoint.params] if endpoint.params is not None else []
        for reply in endpoint.replies.values():
            found += [kind for media, kind in reply.content.items() if _is_json(media)]
    for body in bodies:
        found += [kind for media, kind in body.items() if _is_json(media)]
    return list(dict.fromkeys(found))


def _operation(endpoint: Endpoint, body: Mapping[str, Any], schemas: Schemas) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.operation_id,
        "parameters": _parameters(endpoint, schemas),
        "responses": {
            **_replies(endpoint, schemas),
            **_error_replies(endpoint, schemas),
        },
    }
    if endpoint.access is not Access.PUBLIC:
        operation["security"] = [{"bearer": []}]
    if body:
        operation["requestBody"] = {"required": True, "content": _content(body, schemas)}
    return operation


def _parameters(endpoint: Endpoint, schemas: Schemas) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": dict(endpoint.path_schemas.get(name, _STRING)),
        }
        for name in endpoint.path_params
    ]
    if endpoint.params is not None:
        properties, required = schemas.properties(endpoint.params)
        for name, schema in properties.items():
            schema = dict(schema)
            description = schema.pop("description", "")
            out.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": _without_null(schema),
                    "description": description,
                }
            )
    for header in (*endpoint.request_headers, REQUEST_ID):
        out.append({"in": "header", **_header(header), "name": header.name})
    return out


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: ``X | None`` shows as ``X``."""
    choices = schema.get("anyOf")
    if choices is None:
        return schema
    kept = [c for c in choices if c != {"type": "null"}]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _content(content: Mapping[str, Any], schemas: Schemas) -> dict[str, Any]:
    return {
        media: {"schema": schemas.of(kind) if _is_json(media) else _STRING}
        for media, kind in content.items()
    }


def _header(header: Header) -> dict[str, Any]:
    return {
        "description": header.description,
        "required": header.required,
        "schema": dict(header.schema),
    }


def _headers(*headers: Header) -> dict[str, Any]:
    echoed = replace(REQUEST_ID, required=True)  # on every answer
    return {h.name: _header(h) for h in (echoed, *headers)}


def _replies(endpoint: Endpoint, schemas: Schemas) -> dict[str, Any]:
    limits = (RATE_LIMIT_POLICY, RATE_LIMIT) if endpoint.rate_limited else ()
    return {
        str(status): {
            "description": reply.description,
            "headers": _headers(*reply.headers, *limits),
            "content": _content(reply.content, schemas),
        }
        for status, reply in sorted(endpoint.replies.items())
    }


def errors_of(endpoint: Endpoint) -> list[type[FloKitError]]:
    """Every request-level error ``endpoint`` may answer: its own, and those of its access
    (a key to check: 401, and 503 when the store cannot look it up; a write: 403), 404 for a
    path parameter no route matches (a newline, say), and 500."""
    common: list[type[FloKitError]] = [InternalError]
    if endpoint.path_params:
        common += [NotFound]
    if endpoint.access is not Access.PUBLIC:
        common += [Unauthorized, Unavailable]
    if endpoint.access is Access.WRITE:
        common += [Forbidden]
    return list(dict.fromkeys([*endpoint.errors, *common]))


def _error_replies(endpoint: Endpoint, schemas: Schemas) -> dict[str, Any]:
    by_status: dict[int, list[type[FloKitError]]] = {}
    for error in errors_of(endpoint):
        by_status.setdefault(error.status, []).append(error)
    return {
        str(status): _error_reply(endpoint, status, errors, schemas)
        for status, errors in sorted(by_status.items())
    }


def _error_reply(
    endpoint: Endpoint, status: int, errors: list[type[FloKitError]], schemas: Schemas
) -> dict[str, Any]:
    codes = sorted({e.error for e in errors})
    headers: list[Header] = []
    if all(e.sends_retry_after for e in errors):
        headers.append(RETRY_AFTER)
    # Ingest answers carry the RateLimit headers once the key is known (not on 401 or 403).
    if endpoint.rate_limited and status not in (Unauthorized.status, Forbidden.status):
        headers += [RATE_LIMIT_POLICY, RATE_LIMIT]
    schema = {"allOf": [schemas.of(ErrorBody), {"properties": {"error": {"enum": codes}}}]}
    return {
        "description": ", ".join(codes),
        "headers": _headers(*headers),
        "content": {JSON: {"schema": schema}},
    }
