"""Typed settings: loaded once (from ``FLOKIT_*`` environment variables) and passed explicitly."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

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
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"FLOKIT_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(raw, f.type, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (settings themselves never mutate)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a worker process."""
        return {
            f"FLOKIT_{f.name.upper()}": str(value)
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


def _parse(raw: str, type_name: object, name: str) -> object:
    """Turn one environment string into the field's type, with an error that names the variable."""
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "bool":
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if type_name in ("Path", "Path | None"):
            return Path(raw)
        if type_name in ("str", "str | None"):
            return raw
        raise TypeError(f"no parser for settings of type {type_name}")
    except ValueError as exc:
        raise ValueError(f"FLOKIT_{name.upper()}={raw!r} is not a valid {type_name}") from exc
