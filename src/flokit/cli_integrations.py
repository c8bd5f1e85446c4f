"""``flokit integrations create|list|show|set-secret|delete``: provider integrations as data."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import msgspec
import typer

from flokit.cli import DbOption, JsonOption, _fail, _print_json, _store, _workspace, out
from flokit.integrations import admin
from flokit.integrations.outcome import ProviderType
from flokit.integrations.records import Integration
from flokit.integrations.registry import providers
from flokit.integrations.stripe_provider import signing_secrets
from flokit.settings import Settings
from flokit.store import Store

integrations_app = typer.Typer(
    help="Provider integrations (RevenueCat, Adapty, Stripe, Adjust).", no_args_is_help=True
)
UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="This server's public base URL [default: http://HOST:PORT]"),
]


@integrations_app.command("create")
def create(
    kind: Annotated[ProviderType, typer.Argument(metavar="TYPE", help="revenuecat, adapty, …")],
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace id (ws_…)")],
    signing_secret: Annotated[
        str | None, typer.Option("--signing-secret", help="Stripe's endpoint secret (whsec_…)")
    ] = None,
    keep_sandbox: Annotated[
        bool, typer.Option("--keep-sandbox", help="Keep sandbox/test traffic (tagged)")
    ] = False,
    event_name: Annotated[
        list[str] | None,
        typer.Option("--event-name", metavar="FROM=TO", help="Adapty: renamed event=default name"),
    ] = None,
    event_token: Annotated[
        list[str] | None,
        typer.Option(
            "--event-token", metavar="FROM=TO", help="Adjust: event token=canonical event"
        ),
    ] = None,
    url: UrlOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an integration: prints its id, the URL to configure at the provider and, for
    RevenueCat, Adapty and Adjust, its generated secret (shown once)."""
    asked = admin.NewIntegration(
        kind, keep_sandbox, signing_secret, _pairs(event_name), _pairs(event_token)
    )
    with _store(db) as store:
        ws = _workspace(store, workspace)
        try:
            integration, secret = asyncio.run(admin.create(store, ws.id, ws.public_id, asked))
        except admin.CreateError as exc:
            raise _fail(str(exc)) from None
    shown = admin.url(providers()[kind], integration, _base(url, db), secret)
    if as_json:
        _print_json({"id": integration.id, "type": kind.value, "url": shown, "secret": secret})
        return
    out.print(f"integration {integration.id} ({kind.value}) in {ws.public_id}")
    out.print(f"URL to configure at the provider: {shown}")
    if secret is not None:
        out.print(f"secret (shown only now): {secret}")


@integrations_app.command("list")
def list_(
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace id (ws_…)")],
    url: UrlOption = None,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The workspace's integrations with their status and counts."""
    with _store(db) as store:
        ws = _workspace(store, workspace)
        found = asyncio.run(store.list_integrations(ws.id))
        described = [_describe(store, i, _base(url, db)) for i in found]
    if as_json:
        _print_json({"integrations": described})
        return
    for item in described:
        stats = item["sync_stats"]
        out.print(
            f"{item['id']}  {item['type']:<10} {item['status']:<9}"
            f" events {stats['events_total']}  dropped {sum(item['dropped'].values())}"
        )


@integrations_app.command("show")
def show(
    integration_id: str, url: UrlOption = None, db: DbOption = None, as_json: JsonOption = False
) -> None:
    """One integration as ``GET /v1/integrations/{id}`` shows it."""
    with _store(db) as store:
        integration = asyncio.run(store.get_integration(integration_id))
        if integration is None:
            raise _fail(f"no integration {integration_id}")
        described = _describe(store, integration, _base(url, db))
    if as_json:
        _print_json(described)
    else:
        out.print_json(msgspec.json.encode(described).decode())


@integrations_app.command("set-secret")
def set_secret(
    integration_id: str,
    signing_secret: Annotated[
        str, typer.Option("--signing-secret", help="Stripe's new endpoint secret (whsec_…)")
    ],
    keep_previous: Annotated[
        bool,
        typer.Option("--keep-previous", help="The old secret(s) stay valid beside the new one"),
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Roll a Stripe integration's signing secret; its id and URL stay."""
    asked = admin.NewSigningSecret(signing_secret, keep_previous)
    with _store(db) as store:
        integration = asyncio.run(store.get_integration(integration_id))
        if integration is None:
            raise _fail(f"no integration {integration_id}")
        try:
            changed = asyncio.run(admin.set_signing_secret(store, integration, asked))
        except admin.SecretError as exc:
            raise _fail(str(exc)) from None
    count = len(signing_secrets(changed.secret))
    if as_json:
        _print_json({"id": changed.id, "signing_secrets": count})
    else:
        out.print(f"{changed.id}: {count} signing secret(s) accepted")


@integrations_app.command("delete")
def delete(integration_id: str, db: DbOption = None) -> None:
    """Delete an integration: its deliveries are refused (401) from now on."""
    with _store(db) as store:
        if not asyncio.run(store.delete_integration(integration_id)):
            raise _fail(f"no integration {integration_id}")
    out.print(f"deleted {integration_id}")


def _describe(store: Store, integration: Integration, base_url: str) -> dict[str, Any]:
    stats = asyncio.run(store.integration_stats(integration.id, time.time_ns() // 1000))
    return admin.describe(integration, stats, base_url)


def _pairs(values: list[str] | None) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values or []:
        left, sep, right = value.partition("=")
        if not sep or not left or not right:
            raise _fail(f"{value!r} is not FROM=TO")
        pairs[left] = right
    return pairs


def _base(url: str | None, db: str | None) -> str:
    if url is not None:
        return url
    settings = Settings.from_env(db=db)
    return f"http://{settings.host}:{settings.port}"
