"""The data explorer's web pages (Events, Users, a user, Identity, Import, Reports) and their
static files.

Every page is ``web/layout.html`` (header, navigation, key box) around the page's own
``web/<page>.html``, with its script ``web/<page>.js``; the pages read the public ``/v1`` API
in the browser with the key the user saved there. Nothing is fetched from outside the server:
the chart library is shipped in ``web/vendor/`` and served by ``/app/vendor/{name}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from flokit.api.table import Access, Endpoint, Handler, Header, Reply
from flokit.errors import NotFound
from flokit.http import note

_WEB = files("flokit") / "web"

#: Scripts and styles from this server only; no inline script, no framing.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

_CSS = "text/css; charset=utf-8"
_JS = "text/javascript; charset=utf-8"

#: The only files ``/app/static/{name}`` serves, with their media types.
STATIC: dict[str, str] = {
    "app.css": _CSS,
    "app.js": _JS,
    "events.js": _JS,
    "users.js": _JS,
    "user.js": _JS,
    "identity.js": _JS,
    "import.js": _JS,
    "reports.js": _JS,
}

#: The vendored libraries ``/app/vendor/{name}`` serves (web/vendor/README.md says where each
#: comes from). Their names carry their version, so browsers may keep them for a year.
VENDOR: dict[str, str] = {
    "uPlot-1.6.32.iife.min.js": _JS,
    "uPlot-1.6.32.min.css": _CSS,
}
_VENDOR_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True, slots=True)
class Page:
    """One page: its navigation entry, title, body file, script, and the vendored files its
    script needs (loaded before it)."""

    name: str
    title: str
    vendor: tuple[str, ...] = ()

    def render(self) -> str:
        layout = (_WEB / "layout.html").read_text(encoding="utf-8")
        body = (_WEB / f"{self.name}.html").read_text(encoding="utf-8")
        return (
            layout.replace("{{title}}", self.title)
            .replace("{{page}}", self.name)
            .replace("{{main}}", body)
            .replace("{{vendor}}", "\n".join(_vendor_tag(name) for name in self.vendor))
            .replace("{{script}}", f"/app/static/{self.name}.js")
        )


def _vendor_tag(name: str) -> str:
    """The <head> tag of a vendored file: a stylesheet link, or a deferred script (deferred
    scripts run in document order, so the library is there before the page's script)."""
    if VENDOR[name] == _CSS:
        return f'<link rel="stylesheet" href="/app/vendor/{name}">'
    return f'<script src="/app/vendor/{name}" defer></script>'


def _endpoint(page: Page) -> Handler:
    async def handler(request: Request) -> Response:
        note(request, route="app")
        return HTMLResponse(page.render(), headers=_HEADERS)

    handler.__doc__ = f"Data → {page.title}: the page (its data comes from /v1 in the browser)."
    return handler


async def static(request: Request) -> Response:
    """A whitelisted file of ``web/``; any other name is a 404 (no path reaches the disk)."""
    note(request, route="app")
    name = request.path_params["name"]
    media_type = STATIC.get(name)
    if media_type is None:
        raise NotFound(f"No static file {name}")
    text = (_WEB / name).read_text(encoding="utf-8")
    return Response(text, media_type=media_type, headers=_HEADERS)


async def vendor(request: Request) -> Response:
    """A vendored library file of ``web/vendor/``, cached for a year (its name is versioned);
    any other name is a 404."""
    note(request, route="app")
    name = request.path_params["name"]
    media_type = VENDOR.get(name)
    if media_type is None:
        raise NotFound(f"No vendored file {name}")
    content = (_WEB / "vendor" / name).read_bytes()
    return Response(content, media_type=media_type, headers=_VENDOR_HEADERS)


_EVENTS, _USERS, _USER = Page("events", "Events"), Page("users", "Users"), Page("user", "User")
_IDENTITY, _IMPORT = Page("identity", "Identity"), Page("import", "Import")
_REPORTS = Page("reports", "Reports", vendor=("uPlot-1.6.32.min.css", "uPlot-1.6.32.iife.min.js"))


def _shown(headers: Mapping[str, str]) -> tuple[Header, ...]:
    """The fixed headers of pages and files, as the OpenAPI document shows them."""
    return tuple(
        Header(name, {"const": value}, "Fixed", required=True) for name, value in headers.items()
    )


_HTML = Reply("The page", {"text/html": str}, _shown(_HEADERS))


def _page(path: str, page: Page) -> Endpoint:
    summary = f"Data → {page.title}: a web page"
    return Endpoint("GET", path, _endpoint(page), summary, Access.PUBLIC, {200: _HTML})


def _files(path: str, handler: Handler, served: Mapping[str, str], headers: Reply) -> Endpoint:
    """A route of whitelisted files: ``{name}`` is one of ``served``, any other a 404."""
    return Endpoint(
        "GET",
        path,
        handler,
        "The pages' scripts, styles and libraries",
        Access.PUBLIC,
        {200: headers},
        (NotFound,),
        path_schemas={"name": {"enum": sorted(served)}},
    )


def _files_reply(headers: Mapping[str, str]) -> Reply:
    return Reply("The file", {_CSS.split(";")[0]: str, _JS.split(";")[0]: str}, _shown(headers))


ENDPOINTS: list[Endpoint] = [
    _page("/app/events", _EVENTS),
    _page("/app/users", _USERS),
    # :path, so that an id holding an encoded "/" still reaches the page (which reads it back
    # from the address, still encoded).
    _page("/app/users/{user_id:path}", _USER),
    _page("/app/identity", _IDENTITY),
    _page("/app/import", _IMPORT),
    _page("/app/reports", _REPORTS),
    _files("/app/static/{name}", static, STATIC, _files_reply(_HEADERS)),
    _files("/app/vendor/{name}", vendor, VENDOR, _files_reply(_VENDOR_HEADERS)),
]
