"""The types of the route table (``api/routes.py``): what one endpoint declares so that the app
serves it and the OpenAPI document (``openapi.py``) describes it, from one declaration."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from flokit.errors import FloKitError
from flokit.settings import Settings

Handler = Callable[[Request], Awaitable[Response]]
JSON = "application/json"
#: ``{name:converter}`` in a Starlette path: the document shows ``{name}``.
_CONVERTER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[a-z]+\}")


class Access(StrEnum):
    """Which key an endpoint needs (contract §1, §8)."""

    PUBLIC = "public"  # none
    READ = "read"  # read-only or read-write
    WRITE = "write"  # read-write


@dataclass(frozen=True, slots=True)
class Header:
    """A header a request may carry or a response carries; ``schema`` is JSON Schema."""

    name: str
    schema: Mapping[str, Any]
    description: str
    required: bool = False


#: A body: a struct (or any type msgspec describes) sent as JSON; for other media types, a
#: type, or None for bytes the document does not describe.
Content = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """One successful status of an endpoint."""

    description: str
    content: Content
    headers: tuple[Header, ...] = ()


def json_reply(body: type, description: str, *headers: Header) -> Reply:
    return Reply(description, {JSON: body}, headers)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One method on one path: its handler, and everything the OpenAPI document says of it.

    ``errors`` are the request-level errors the handler itself raises; the ones every endpoint
    of its ``access`` may answer (401, 403, 500, 503 from the store) are added by the document.
    ``body`` gives the request body's media types and types for this server's settings (the
    batch limit is a setting). ``params`` is the struct whose fields are the query parameters.
    """

    method: str
    path: str  # Starlette's path (``{user_id:path}``)
    handler: Handler
    summary: str
    access: Access
    replies: Mapping[int, Reply]
    errors: tuple[type[FloKitError], ...] = ()
    params: type[msgspec.Struct] | None = None
    body: Callable[[Settings], Content] | None = None
    request_headers: tuple[Header, ...] = ()
    #: Ingest: answers carry the RateLimit headers and may be 429.
    rate_limited: bool = False
    #: JSON Schemas of path parameters that are not just any string.
    path_schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def openapi_path(self) -> str:
        return _CONVERTER.sub(r"{\1}", self.path)

    @property
    def operation_id(self) -> str:
        """Unique per method and path (handlers may share a name: the provider receivers)."""
        words = re.sub(r"[^A-Za-z0-9]+", "_", self.openapi_path).strip("_")
        return f"{self.method.lower()}_{words}"

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)", self.path)

    def route(self) -> Route:
        return Route(self.path, self.handler, methods=[self.method])
