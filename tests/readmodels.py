"""The read models as plain data, read straight from the database: to compare two builds."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from flokit.domain.facts import decode_facts
from flokit.projections.projector import catch_up
from flokit.settings import Settings
from flokit.store import Store
from flokit.store.readmodel_sql import READ_MODEL_TABLES
from flokit.store.sqlite_readmodels import read_models_path

#: Columns holding encoded facts: compared decoded (a currency map's key order may differ).
_FACTS_TABLES = {"identity_facts", "people"}


def dump_read_models(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-model row, sorted, with facts decoded; the checkpoint's position too."""
    if settings.postgres_url is None:
        with sqlite3.connect(read_models_path(settings.sqlite_path)) as conn:
            return _dump(lambda sql: conn.execute(sql).fetchall())
    import psycopg

    with psycopg.connect(settings.postgres_url) as pg:
        return _dump(lambda sql: pg.execute(sql).fetchall())


def _dump(rows: Any) -> dict[str, list[tuple[Any, ...]]]:
    dumped: dict[str, list[tuple[Any, ...]]] = {}
    for table in READ_MODEL_TABLES:
        found = [tuple(row) for row in rows(f"SELECT * FROM {table}")]
        if table in _FACTS_TABLES:
            found = [(*row[:-1], decode_facts(row[-1])) for row in found]
        dumped[table] = sorted(found, key=repr)
    dumped["as_of"] = rows("SELECT as_of FROM projection_state")
    return dumped


def project_all(store: Store) -> None:
    """Project until nothing is left behind. On PostgreSQL a window of the log opens only once
    every older transaction of the server has ended (any database's: a neighbour's slow
    ``DROP DATABASE`` holds the horizon back), so one ``catch_up`` may stop early: poll until
    the projection reports nothing behind, boundedly."""
    for _ in range(600):
        catch_up(store)
        if store.projection_progress(time.time_ns() // 1000).behind == 0:
            return
        time.sleep(0.05)
    raise AssertionError("the projector did not catch up in 30 s")
