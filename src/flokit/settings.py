"""Typed settings: loaded once (from ``FLOKIT_*`` environment variables) and passed explicitly."""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable of the service, with the contract's defaults (contract §4, §5, §9)."""

    db: str = "flokit.db"  # a SQLite file, or a postgresql:// URL
    redis_url: str | None = None  # redis://…: rate-limit buckets and in-flight markers
    redis_prefix: str = "flokit:"  # every key FloKit writes in Redis starts with it
    imports_dir: Path | None = None  # import files (default: beside the SQLite file)
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    max_body_bytes: int = 10 * MIB
    # An answer sent before the body was read (413, 401, …) first reads and drops up to this
    # much of the rest, so clients that send the whole body before reading still get it.
    max_drain_bytes: int = 64 * MIB
    integration_max_body_bytes: int = 1 * MIB  # one provider delivery (webhook, callback)
    max_batch_events: int = 1000
    max_event_bytes: int = 32 * 1024
    max_properties_depth: int = 8
    min_timestamp: str = "2000-01-01T00:00:00Z"
    max_future_seconds: int = 24 * 3600
    insert_id_retention_days: int = 7
    idempotency_retention_hours: int = 24
    default_requests_per_minute: int = 100
    rate_limits: bool = True  # off: admit everything (trusted networks, benchmarks)
    import_max_bytes: int = 4 * 1024 * MIB  # one CSV import file, after gunzip
    import_stale_seconds: int = 15  # a running import silent this long is resumed elsewhere
    import_parallel_min_bytes: int = 8 * MIB  # smaller files are validated in one thread
    # Group commit: how many requests, and how many rows, one transaction may hold.
    commit_max_requests: int = 64
    commit_max_rows: int = 20_000
    busy_timeout_ms: int = 10_000
    log_requests: bool = True
    projector: bool = True  # off: this process builds no read models (another one does)
    projector_batch: int = 2000  # events per projector transaction

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``FLOKIT_<FIELD>`` variables, then explicit overrides."""
        env = os.environ if env is None else env
        annotations = typing.get_type_hints(cls)
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(env_name(f.name))
            if raw is not None:
                values[f.name] = parse_setting(raw, annotations[f.name], env_name(f.name))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (settings themselves never mutate)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a worker process."""
        return {
            env_name(f.name): str(value)
            for f in fields(self)
            if (value := getattr(self, f.name)) is not None
        }

    @property
    def postgres_url(self) -> str | None:
        """The PostgreSQL URL ``db`` names, or None for the embedded SQLite file."""
        return self.db if self.db.startswith(POSTGRES_SCHEMES) else None

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file ``db`` names (only meaningful when ``postgres_url`` is None)."""
        return Path(self.db)

    @property
    def import_files(self) -> Path:
        """Where uploaded import files and their working files live."""
        if self.imports_dir is not None:
            return self.imports_dir
        if self.postgres_url is not None:
            return Path("flokit-imports")
        return self.sqlite_path.with_name(self.sqlite_path.name + ".imports")


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class SettingsError(ValueError):
    """A ``FLOKIT_*`` variable whose value is not of its setting's type."""


def env_name(field_name: str) -> str:
    """The environment variable of a setting."""
    return f"FLOKIT_{field_name.upper()}"


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _bool(raw: str) -> bool:
    word = raw.strip().lower()
    if word not in _TRUE | _FALSE:
        raise ValueError(f"use one of {', '.join(sorted(_TRUE | _FALSE))}")
    return word in _TRUE


def _float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _path(raw: str) -> Path:
    if not raw:
        raise ValueError("must not be empty")
    return Path(raw)


_PARSERS: dict[type, Callable[[str], object]] = {
    str: str,
    int: int,
    float: _float,
    bool: _bool,
    Path: _path,
}


def parse_setting(raw: str, annotation: Any, variable: str) -> object:
    """One environment string as the setting's annotated type: ``X | None`` takes an empty
    string as None; a value that is not an ``X`` is a ``SettingsError`` naming the variable."""
    kind, optional = _unwrap_optional(annotation)
    if optional and raw == "":
        return None
    parser = _parser_of(kind)
    try:
        return parser(raw)
    except ValueError as exc:
        raise SettingsError(f"{variable}={raw!r} is not a valid {_describe(kind)}: {exc}") from None


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` as (X, True); any other annotation as (it, False)."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0], True
    return annotation, False


def _parser_of(kind: Any) -> Callable[[str], object]:
    if isinstance(kind, type) and issubclass(kind, Enum):
        return lambda raw: _enum(kind, raw)
    parser = _PARSERS.get(kind)
    if parser is None:
        raise TypeError(f"Settings has no parser for the type {kind!r}")
    return parser


def _enum(kind: type[Enum], raw: str) -> Enum:
    try:
        return kind(raw)
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise ValueError(f"use one of {choices}") from None


def _describe(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))
