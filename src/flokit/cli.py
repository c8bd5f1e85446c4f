"""The ``flokit`` command: a thin layer over the library (serve, workspaces, keys)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import msgspec
import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from flokit import signals
from flokit.domain.spend import CURRENCY
from flokit.errors import Unavailable
from flokit.imports.client import ImportClient, ImportFailed, summary
from flokit.imports.spend import SpendImportFailed
from flokit.imports.spend import send as send_spend
from flokit.model import ApiKey, IssuedKey, KeyKind, Workspace
from flokit.projections.projector import Projector, catch_up
from flokit.settings import Settings
from flokit.store import Store, open_store
from flokit.store.contract import BackendUnreachable, SchemaMismatch
from flokit.timestamps import format_iso

app = typer.Typer(
    help="FloKit Events API: ingest server, administration, imports.", no_args_is_help=True
)
workspaces_app = typer.Typer(help="Create workspaces, set their limits.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list, revoke and rotate API keys.", no_args_is_help=True)
app.add_typer(workspaces_app, name="workspaces")
app.add_typer(keys_app, name="keys")
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
spend_app = typer.Typer(help="Ad spend (for the payback reports).", no_args_is_help=True)
app.add_typer(spend_app, name="spend")
projections_app = typer.Typer(
    help="Read models built from the event log (users, identity).", no_args_is_help=True
)
app.add_typer(projections_app, name="projections")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLite database file or postgresql:// URL [env FLOKIT_DB; default ./flokit.db]",
    ),
]
RedisOption = Annotated[
    str | None,
    typer.Option(
        "--redis", help="redis:// URL for rate limits and in-flight keys [env FLOKIT_REDIS_URL]"
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


#: How long `serve` waits at shutdown for its projector to finish its batch.
PROJECTOR_STOP_S = 20.0


def main() -> None:
    app()


@contextmanager
def _store(db: str | None) -> Iterator[Store]:
    """The store the settings name; a backend that cannot be reached or a schema too new is
    one error line and exit status 1, never a traceback."""
    try:
        store = open_store(Settings.from_env(db=db))
    except (BackendUnreachable, SchemaMismatch, Unavailable) as exc:  # a full disk too
        raise _fail(str(exc)) from None
    try:
        yield store
    finally:
        store.close()


def _print_json(value: Any) -> None:
    typer.echo(msgspec.json.encode(value).decode())


def _issued(issued: IssuedKey) -> dict[str, str]:
    return {"key_id": issued.key.key_id, "api_key": issued.secret, "type": issued.key.kind.value}


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address [env FLOKIT_HOST; 127.0.0.1]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [env FLOKIT_PORT; 8080]")] = None,
    db: DbOption = None,
    redis: RedisOption = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes [env FLOKIT_WORKERS; 1]")
    ] = None,
) -> None:
    """Serve the Events API. On an empty database, first creates a `default` workspace and
    prints its read-write key (shown once). PostgreSQL migrations are applied first."""
    settings = Settings.from_env(host=host, port=port, db=db, redis_url=redis, workers=workers)
    _check_redis(settings)  # before anything is written: a refused start changes nothing
    with _store(settings.db) as store:
        if store.count_workspaces() == 0:
            _bootstrap(store)
    os.environ.update(settings.as_env())  # worker processes rebuild the same settings
    projector = _start_projector() if settings.projector else None
    os.environ["FLOKIT_PROJECTOR"] = "false"  # the workers leave projecting to that process
    try:
        uvicorn.run(
            "flokit.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            access_log=False,
            log_config=_LOG_CONFIG,
        )
    finally:
        if projector is not None:
            _stop_child(projector)


def _start_projector() -> subprocess.Popen[bytes]:
    """The projector in a process of its own (`flokit projections follow`): its Python work
    never holds the request path's interpreter lock. Same settings, same process group, born
    with the shutdown signals held until it handles them."""
    with signals.held():
        return subprocess.Popen([sys.executable, "-m", "flokit", "projections", "follow"])


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM (it finishes its batch), then SIGKILL if it lingers: a cut batch rolls back."""
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=PROJECTOR_STOP_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _check_redis(settings: Settings) -> None:
    """Redis, if named, must answer before any worker starts."""
    if settings.redis_url is None:
        return
    from flokit.store.redis import check_reachable

    try:
        check_reachable(settings.redis_url)
    except BackendUnreachable as exc:
        raise _fail(str(exc)) from None


@db_app.command("migrate")
def db_migrate(db: DbOption = None) -> None:
    """Apply pending schema migrations (serve applies them too; ten nodes at once are safe)."""
    with _store(db) as store:
        out.print(f"{store.backend}: schema up to date")


@projections_app.command("rebuild")
def projections_rebuild(db: DbOption = None) -> None:
    """Forget the read models and build them again from the whole log. Servers may keep
    running: their projectors take turns with this one and see the rebuilt models."""
    with _store(db) as store:
        store.reset_read_models()
        total = store.projection_progress(time.time_ns() // 1000).behind
        started = time.monotonic()
        with Progress(*Progress.get_default_columns(), console=err, transient=True) as bar:
            task = bar.add_task("Projecting events", total=total or None)
            done = catch_up(store, lambda n: bar.advance(task, n))
        seconds = time.monotonic() - started
        rate = done / seconds if seconds else 0.0
        out.print(
            f"Rebuilt the read models from {done:,} events in {seconds:.1f} s ({rate:,.0f}/s)"
        )


@projections_app.command("follow")
def projections_follow(db: DbOption = None) -> None:
    """Follow the log into the read models until stopped (SIGTERM or Ctrl-C). `flokit serve`
    runs one; run it alone on a node of its own with FLOKIT_PROJECTOR=false on the others."""
    settings = Settings.from_env(db=db)
    stop = threading.Event()
    for sig in signals.SHUTDOWN_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    signals.let_in()  # a Ctrl-C to `serve` while this process was starting stops it now
    parent = os.getppid()

    def stopped() -> bool:  # stop with the server that started it (a parent's SIGKILL too)
        return stop.is_set() or os.getppid() != parent

    store = _open_when_writable(settings.db, stopped)
    if store is None:
        return
    try:
        projector = Projector(store, batch=settings.projector_batch)
        projector.start()
        while not stopped():
            stop.wait(1.0)
        projector.stop()
    finally:
        store.close()


def _open_when_writable(db: str, stopped: Callable[[], bool]) -> Store | None:
    """The store, tried again each second while it cannot be opened for now (its disk is
    full): a projector that gave up would leave the read models behind until a restart."""
    waiting = False
    while not stopped():
        try:
            return open_store(Settings.from_env(db=db))
        except (BackendUnreachable, SchemaMismatch) as exc:
            raise _fail(str(exc)) from None
        except Unavailable as exc:
            if not waiting:
                err.print(f"projector: waiting for the store: {exc}")
                waiting = True
            time.sleep(1.0)
    return None


@projections_app.command("status")
def projections_status(db: DbOption = None, as_json: JsonOption = False) -> None:
    """How far the read models have followed the log."""
    with _store(db) as store:
        progress = store.projection_progress(time.time_ns() // 1000)
    if as_json:
        _print_json(progress)
    else:
        out.print(
            f"as of log position {progress.as_of:,}; {progress.behind:,} events behind"
            f" ({progress.lag_s:.1f} s)"
        )


def _bootstrap(store: Store) -> None:
    workspace, issued = store.create_workspace("default")
    err.print(
        f"Empty database: created workspace [bold]{workspace.public_id}[/bold] (default) with "
        f"read-write key [bold]{issued.secret}[/bold]\nIt is shown only now; create more with "
        f"`flokit keys create --workspace {workspace.public_id}`."
    )


@workspaces_app.command("create")
def workspaces_create(name: str, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Create a workspace and its first read-write key."""
    with _store(db) as store:
        workspace, issued = store.create_workspace(name)
    if as_json:
        _print_json(
            {
                "workspace_id": workspace.public_id,
                "name": name,
                "key_id": issued.key.key_id,
                "api_key": issued.secret,
            }
        )
        return
    out.print(
        f"workspace {workspace.public_id} ({name})\n"
        f"read-write key {issued.key.key_id}: {issued.secret}"
    )


@workspaces_app.command("set-limit")
def workspaces_set_limit(
    workspace_id: str,
    requests_per_minute: Annotated[
        int | None,
        typer.Option("--requests-per-minute", min=1, help="Ingest requests per minute"),
    ] = None,
    default: Annotated[bool, typer.Option("--default", help="Back to the default limit")] = False,
    db: DbOption = None,
) -> None:
    """Give a workspace its own ingest rate limit (dedicated capacity); applies at once."""
    if (requests_per_minute is None) == (not default):
        raise _fail("give --requests-per-minute N or --default")
    with _store(db) as store:
        store.set_workspace_limit(_workspace(store, workspace_id), requests_per_minute)
    shown = f"{requests_per_minute} requests per minute" if requests_per_minute else "the default"
    out.print(f"{workspace_id}: {shown}")


@workspaces_app.command("set-currency")
def workspaces_set_currency(workspace_id: str, currency: str, db: DbOption = None) -> None:
    """Set the workspace's reporting currency (ISO 4217; the default is USD)."""
    if not CURRENCY.fullmatch(currency):
        raise _fail("the currency must be three uppercase letters (ISO 4217), e.g. USD")
    with _store(db) as store:
        store.set_reporting_currency(_workspace(store, workspace_id), currency)
    out.print(f"{workspace_id}: reports in {currency}")


@spend_app.command("import")
def spend_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV (.csv, .csv.gz)")],
    url: Annotated[
        str, typer.Option(envvar="FLOKIT_URL", help="Server, e.g. http://127.0.0.1:8080")
    ],
    key: Annotated[str, typer.Option(envvar="FLOKIT_API_KEY", help="Read-write API key")],
) -> None:
    """Upsert daily spend rows from a CSV file (date, channel, campaign_id, spend, …)."""
    try:
        outcome = send_spend(file, url.rstrip("/"), key)
    except httpx.TransportError as exc:
        raise _fail(f"could not reach {url}: {exc}") from None
    except (SpendImportFailed, httpx.HTTPError, UnicodeDecodeError) as exc:
        raise _fail(str(exc)) from None
    out.print(f"spend rows stored: {outcome.accepted}, refused: {outcome.rejected}")
    for line, reason in outcome.errors[:20]:
        out.print(f"  line {line}: {reason}")
    if outcome.rejected:
        raise typer.Exit(1)


def _workspace(store: Store, public_id: str) -> Workspace:
    workspace = store.find_workspace(public_id)
    if workspace is None:
        raise _fail(f"no workspace {public_id}")
    return workspace


@keys_app.command("create")
def keys_create(
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace id (ws_…)")],
    read_only: Annotated[bool, typer.Option("--read-only", help="A read-only key")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key (read-write unless --read-only); its secret is shown once."""
    kind = KeyKind.READ_ONLY if read_only else KeyKind.READ_WRITE
    with _store(db) as store:
        issued = store.create_key(_workspace(store, workspace), kind)
    _show_issued(issued, as_json)


def _show_issued(issued: IssuedKey, as_json: bool) -> None:
    if as_json:
        _print_json(_issued(issued))
    else:
        out.print(f"{issued.key.kind.value} key {issued.key.key_id}: {issued.secret}")


@keys_app.command("list")
def keys_list(
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace id (ws_…)")],
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """List a workspace's keys (never their secrets)."""
    with _store(db) as store:
        found = store.list_keys(_workspace(store, workspace))
    if as_json:
        _print_json([_key_json(k) for k in found])
        return
    table = Table("key_id", "type", "created", "revoked")
    for key in found:
        revoked = format_iso(key.revoked_us) if key.revoked_us else ""
        table.add_row(key.key_id, key.kind.value, format_iso(key.created_us), revoked)
    out.print(table)


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "type": key.kind.value,
        "created_at": format_iso(key.created_us),
        "revoked_at": format_iso(key.revoked_us) if key.revoked_us else None,
    }


@keys_app.command("revoke")
def keys_revoke(key_id: str, db: DbOption = None) -> None:
    """Revoke a key: it stops working on the next request, in every server process."""
    with _store(db) as store:
        if store.revoke_key(key_id) is None:
            raise _fail(f"no live key {key_id}")
    out.print(f"revoked {key_id}")


@keys_app.command("rotate")
def keys_rotate(key_id: str, db: DbOption = None, as_json: JsonOption = False) -> None:
    """Replace a key by a new one of the same type; the old one stops working at once."""
    with _store(db) as store:
        issued = store.rotate_key(key_id)
    if issued is None:
        raise _fail(f"no live key {key_id}")
    _show_issued(issued, as_json)


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV file (.csv or .csv.gz)")
    ],
    url: Annotated[
        str, typer.Option(envvar="FLOKIT_URL", help="Server, e.g. http://127.0.0.1:8080")
    ],
    key: Annotated[str, typer.Option(envvar="FLOKIT_API_KEY", help="Read-write API key")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate every row, store nothing")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the import to its end")] = False,
) -> None:
    """Import historical events from a CSV file (Data → Import), with progress bars."""
    started = time.monotonic()
    with ImportClient(url.rstrip("/"), key, err) as client:
        try:
            job = client.upload(file, dry_run)
            if job.get("duplicate_of"):
                out.print(job.get("message", ""))
            if not wait:
                out.print(f"import {job['import_id']}: {job['status']} (--wait follows it)")
                return
            job = client.follow(job)
            out.print(summary(job, time.monotonic() - started))
            if job["rejected"]:
                out.print(f"rejected rows: {client.download_errors(job, file)}")
        except httpx.TransportError as exc:
            raise _fail(f"could not reach {url}: {exc}") from None
        except (ImportFailed, httpx.HTTPError) as exc:
            raise _fail(str(exc)) from None
    if job["status"] == "failed":
        raise _fail(f"import {job['import_id']} failed: {job['failure']}")


_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "flokit": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}

# Last: the integrations commands use the helpers above.
from flokit.cli_integrations import integrations_app  # noqa: E402

app.add_typer(integrations_app, name="integrations")
