"""The peer ``bench/peer.py`` measures FloKit against: ``POST /v1/batch/events`` written the
obvious way with FastAPI and Pydantic, in good faith.

Each event of a batch is validated on its own by Pydantic models of the batch-events.md fields
(contract §4: the envelope, the taxonomy's required properties, the property types), so a batch
is accepted in part; the accepted events are stored with their duplicate keys (contract §5) in
one SQLite transaction per request, with FloKit's durability (WAL, ``synchronous=FULL``): no
answer before the commit. Not handicapped: a plain ``def`` endpoint (FastAPI runs it in its
thread pool), one connection per thread, writes taken in turn under a lock (no busy-wait
sleeps), a batch's duplicate keys looked up in one query and its rows inserted with
``executemany``, no response model to validate again. What it leaves out (rate limits,
idempotency keys, gzip) the benchmark does not use, or FloKit's limiter never throttles.

Run: ``PEER_DB=peer.db uvicorn peer_app:create_app --factory`` (``create_db`` makes the file).
"""

# No ``from __future__ import annotations``: FastAPI reads the endpoint's annotations, and a
# dependency defined inside ``create_app`` would not resolve from a string.
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Self

from fastapi import Depends, FastAPI, Header, HTTPException, Response
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

MAX_EVENT_BYTES = 32 * 1024
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
INSERT_ID_DAYS = 7
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS api_keys (key_hash TEXT PRIMARY KEY, workspace_id INTEGER)",
    """CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY, workspace_id INTEGER NOT NULL, event_id TEXT NOT NULL UNIQUE,
        event TEXT NOT NULL, user_id TEXT, anonymous_id TEXT, timestamp_us INTEGER NOT NULL,
        received_us INTEGER NOT NULL, properties TEXT, insert_id TEXT)""",
    """CREATE TABLE IF NOT EXISTS dedup_keys (
        workspace_id INTEGER NOT NULL, key TEXT NOT NULL, event_id TEXT NOT NULL,
        expires_us INTEGER, PRIMARY KEY (workspace_id, key)) WITHOUT ROWID""",
]

Id = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Amount = Annotated[float, Field(ge=0, allow_inf_nan=False, strict=True)]
Count = Annotated[StrictInt, Field(ge=0)]


class Properties(BaseModel):
    """Every documented property, typed wherever it appears on a taxonomy event."""

    model_config = ConfigDict(extra="allow", strict=True)

    revenue: Amount | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    platform: Annotated[str, StringConstraints(pattern=r"^(ios|android|web)$")] | None = None
    trial_length_days: Count | None = None
    steps_completed: Count | None = None
    trial_converted: StrictBool | None = None
    plan_ids: list[str] | None = None
    plan_id: Id | None = None
    paywall_id: Id | None = None
    transaction_id: Id | None = None
    campaign_id: Id | None = None
    channel: Id | None = None
    ad_set_id: Id | None = None
    creative_id: Id | None = None
    offer_id: Id | None = None
    variant: Id | None = None
    store: Id | None = None
    install_source: Id | None = None
    context: Id | None = None


class InstallProps(Properties):
    campaign_id: Id
    channel: Id


class PaywallViewedProps(Properties):
    paywall_id: Id


class PaywallConvertedProps(Properties):
    paywall_id: Id
    plan_id: Id


class PlanProps(Properties):
    plan_id: Id


class RevenueProps(Properties):
    plan_id: Id
    revenue: Amount
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    transaction_id: Id


class RefundProps(Properties):
    revenue: Amount
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    transaction_id: Id


#: event name -> (needs user_id, its properties model)
TAXONOMY: dict[str, tuple[bool, type[Properties]]] = {
    "user_created": (True, Properties),
    "install_attributed": (False, InstallProps),
    "onboarding_started": (True, Properties),
    "onboarding_completed": (True, Properties),
    "activation_completed": (True, Properties),
    "paywall_viewed": (True, PaywallViewedProps),
    "paywall_converted": (True, PaywallConvertedProps),
    "trial_started": (True, PlanProps),
    "subscription_started": (True, RevenueProps),
    "renewal_completed": (True, RevenueProps),
    "subscription_cancelled": (True, PlanProps),
    "plan_changed": (True, PlanProps),
    "refund_issued": (True, RefundProps),
}
REVENUE_EVENTS = {"subscription_started", "renewal_completed", "refund_issued"}


class Event(BaseModel):
    """One event's envelope (contract §4); its properties are checked by the taxonomy's model."""

    model_config = ConfigDict(extra="forbid")

    event: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    ]
    timestamp: AwareDatetime
    user_id: Id | None = None
    anonymous_id: Id | None = None
    insert_id: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    properties: dict[str, Any] | None = None

    @field_validator("timestamp")
    @classmethod
    def not_too_early_or_late(cls, value: datetime) -> datetime:
        if value < EARLIEST:
            raise ValueError("not before 2000-01-01T00:00:00Z")
        if value > datetime.now(UTC) + timedelta(hours=24):
            raise ValueError("is more than 24 hours in the future")
        return value

    @model_validator(mode="after")
    def identified(self) -> Self:
        needs_user = TAXONOMY.get(self.event, (False, Properties))[0]
        if self.user_id is None and (needs_user or self.anonymous_id is None):
            raise ValueError("Missing required field: user_id or anonymous_id")
        return self


class Batch(BaseModel):
    events: list[Any] = Field(min_length=1, max_length=1000)


def reason(error: ValidationError, within: str = "") -> str:
    """The first problem, in the API's words (properties by bare name if missing)."""
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "event"
    if first["type"] != "missing":
        name = within + name
    if first["type"] == "missing":
        return f"Missing required field: {name}"
    if first["type"] == "value_error":
        message = first["msg"].removeprefix("Value error, ")
        return f"Invalid field: {name} {message}" if first["loc"] else message
    if first["type"] == "extra_forbidden":
        return f"Unknown field: {name} (event-specific fields belong in properties)"
    return f"Invalid field: {name} must be valid ({first['msg']})"


def check(raw: Any) -> Event | str:
    """The event, or the reason it is rejected."""
    if not isinstance(raw, dict):
        return "Event must be a JSON object"
    size = len(json.dumps(raw).encode())
    if size > MAX_EVENT_BYTES:
        return f"Event too large: {size} bytes (limit {MAX_EVENT_BYTES})"
    try:
        event = Event.model_validate(raw)
    except ValidationError as exc:
        return reason(exc)
    if (spec := TAXONOMY.get(event.event)) is not None:
        try:
            spec[1].model_validate(event.properties or {})
        except ValidationError as exc:
            return reason(exc, "properties.")
    return event


ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def base32(value: int) -> str:
    return "".join(ALPHABET[(value >> shift) & 31] for shift in range(45, -1, -5))


def event_ids(count: int) -> list[str]:
    """evt_ + the millisecond + a 50-bit counter from a random start (contract §5)."""
    prefix, start = "evt_" + base32(time.time_ns() // 1_000_000), secrets.randbits(49)
    return [prefix + base32(start + i) for i in range(count)]


def dedup_keys(event: Event) -> list[str]:
    keys = [f"i:{event.insert_id}"] if event.insert_id else []
    txn = (event.properties or {}).get("transaction_id")
    if event.event in REVENUE_EVENTS and isinstance(txn, str):
        keys.append(f"t:{event.event}\x1f{txn}")
    return keys


def connect(db: str) -> sqlite3.Connection:
    conn = sqlite3.connect(db, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def create_db(path: Path) -> str:
    """A fresh peer database with one workspace; its API key."""
    key = "fk_rw_" + secrets.token_urlsafe(24)
    with connect(str(path)) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO api_keys VALUES (?, 1)", (hashlib.sha256(key.encode()).hexdigest(),)
        )
    return key


def create_app() -> FastAPI:
    db = os.environ["PEER_DB"]
    local = threading.local()
    write_lock = threading.Lock()
    app = FastAPI()

    def conn() -> sqlite3.Connection:
        if not hasattr(local, "conn"):
            local.conn = connect(db)
        return local.conn  # type: ignore[no-any-return]

    def workspace(authorization: Annotated[str, Header()] = "") -> int:
        digest = hashlib.sha256(authorization.removeprefix("Bearer ").encode()).hexdigest()
        row = (
            conn()
            .execute("SELECT workspace_id FROM api_keys WHERE key_hash = ?", (digest,))
            .fetchone()
        )
        if row is None:
            raise HTTPException(401, "Invalid or missing API key")
        return int(row[0])

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/batch/events")
    def batch_events(
        batch: Batch, response: Response, workspace_id: Annotated[int, Depends(workspace)]
    ) -> dict[str, Any]:
        accepted: list[tuple[int, Event]] = []
        errors: list[dict[str, Any]] = []
        for index, raw in enumerate(batch.events):
            outcome = check(raw)
            if isinstance(outcome, Event):
                accepted.append((index, outcome))
            else:
                name = raw.get("event") if isinstance(raw, dict) else None
                errors.append({"index": index, "event": name, "reason": outcome})
        ids = event_ids(len(accepted))
        stored_ids, duplicates = store(workspace_id, [e for _, e in accepted], ids)
        if errors:
            response.headers["FloKit-Rejected"] = str(len(errors))
        return {
            "status": "ok",
            "accepted": len(accepted),
            "rejected": len(errors),
            "duplicates": duplicates,
            "event_ids": stored_ids,
            "errors": errors,
        }

    def store(workspace_id: int, events: list[Event], ids: list[str]) -> tuple[list[str], int]:
        """One transaction: the batch's duplicate keys looked up at once (an event whose key is
        taken, stored or earlier in the batch, is a duplicate answered with the first one's
        id), the new events and their keys inserted with ``executemany``, one commit."""
        now_us = time.time_ns() // 1000
        expires = now_us + INSERT_ID_DAYS * 86_400_000_000
        keys = [dedup_keys(event) for event in events]
        rows = [
            (
                workspace_id,
                event_id,
                event.event,
                event.user_id,
                event.anonymous_id,
                int(event.timestamp.timestamp() * 1_000_000),
                now_us,
                json.dumps(event.properties) if event.properties is not None else None,
                event.insert_id,
            )
            for event, event_id in zip(events, ids, strict=True)
        ]
        wanted = json.dumps(sorted({key for event_keys in keys for key in event_keys}))
        new_rows, key_rows, stored_ids = [], [], []
        db_conn = conn()
        with write_lock, db_conn:
            first_of = dict(
                db_conn.execute(
                    "SELECT key, event_id FROM dedup_keys WHERE workspace_id = ?"
                    " AND key IN (SELECT value FROM json_each(?))",
                    (workspace_id, wanted),
                )
            )
            for row, event_keys in zip(rows, keys, strict=True):
                first = next((first_of[key] for key in event_keys if key in first_of), None)
                if first is not None:
                    stored_ids.append(first)
                    continue
                for key in event_keys:
                    first_of[key] = row[1]
                    key_rows.append((workspace_id, key, row[1], expires if key[0] == "i" else None))
                new_rows.append(row)
                stored_ids.append(row[1])
            db_conn.executemany("INSERT INTO dedup_keys VALUES (?, ?, ?, ?)", key_rows)
            db_conn.executemany(
                "INSERT INTO events (workspace_id, event_id, event, user_id, anonymous_id,"
                " timestamp_us, received_us, properties, insert_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                new_rows,
            )
        return stored_ids, len(rows) - len(new_rows)

    return app
