"""HTTP plumbing shared by every route: JSON responses, error rendering, request ids, access log."""

from __future__ import annotations

import logging
import re
import time
import traceback
import uuid
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from flokit.errors import FloKitError, InternalError, MethodNotAllowed, NotFound
from flokit.metrics import Metrics

access_log = logging.getLogger("flokit.access")
error_log = logging.getLogger("flokit.error")
_encode = msgspec.json.encode
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,200}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response encoded once by msgspec."""
    return Response(_encode(body), status, headers, media_type="application/json")


def error_response(exc: FloKitError) -> Response:
    """The one renderer of request-level errors (contract §2)."""
    return json_response(exc.body(), exc.status, exc.headers)


async def handle_flokit_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FloKitError)
    return error_response(exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown path or method) in the contract's error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        message = f"{request.method} is not allowed on {request.url.path}; it takes {allowed}"
        return error_response(MethodNotAllowed(message, headers={"Allow": allowed}))
    if exc.status_code == 404:
        return error_response(NotFound(f"No route for {request.method} {request.url.path}"))
    raise InternalError(f"Unexpected HTTP error {exc.status_code}: {exc.detail}")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path (Starlette's 405 names only the first
    route's, and a path such as /v1/events has a GET route and a POST route)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def note(request: Request, **fields: Any) -> None:
    """Attach fields to this request's access-log line (workspace, counts, route)."""
    request.scope.setdefault("flokit", {}).update(fields)


class RequestMiddleware:
    """Just inside ``drain.DrainUnreadBody``: ``X-Request-Id`` on every response, one log line
    and metrics per request, and a JSON 500 (never a stack trace) for anything unexpected."""

    def __init__(self, app: ASGIApp, metrics: Metrics, log_requests: bool) -> None:
        self.app, self.metrics, self.log_requests = app, metrics, log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            error_log.error("request %s failed\n%s", request_id, traceback.format_exc())
            if not response_started:
                failure = InternalError(f"Internal server error (request id {request_id})")
                await error_response(failure)(scope, receive, send_with_id)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        fields: dict[str, Any] = scope.get("flokit", {})
        route = fields.pop("route", "other")
        self.metrics.requests.labels(route, str(status)).inc()
        if route in ("batch", "event"):
            self.metrics.batch_seconds.observe(seconds)
        if self.log_requests:
            line = {
                "ts": round(time.time(), 3),
                "request_id": request_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                **fields,
            }
            access_log.info(_encode(line).decode())


def _request_id(scope: Scope) -> str:
    """The client's ``X-Request-Id`` when it is sane, else a fresh one."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
    return "req_" + uuid.uuid4().hex
