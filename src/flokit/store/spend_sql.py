"""Spend, exchange rates and the reporting currency: mutable tables beside the log (not read
models: they are the user's own data, never rebuilt from events). Both backends, one SQL.

- ``spend``: one row per (workspace, day, channel, campaign, ad set, creative, country); sending
  a day again replaces it (networks restate cost).
- ``fx_rates``: one rate per (workspace, day, base, currency).
- ``workspaces.currency``: the reporting currency.
"""

from __future__ import annotations

from collections.abc import Sequence

from flokit.domain.spend import FxRate, SpendRow
from flokit.store.readmodel_sql import Db, Dialect

DEFAULT_CURRENCY = "USD"
_SPEND_COLUMNS = "day, channel, campaign_id, ad_set_id, creative_id, country, amount, currency"
_SPEND_KEY = "workspace_id, day, channel, campaign_id, ad_set_id, creative_id, country"


def put_spend(db: Db, d: Dialect, ws: int, rows: Sequence[SpendRow], now_us: int) -> None:
    db.many(
        d.q(
            f"INSERT INTO spend (workspace_id, {_SPEND_COLUMNS}, updated_us)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            f" ON CONFLICT ({_SPEND_KEY}) DO UPDATE SET amount = excluded.amount,"
            " currency = excluded.currency, updated_us = excluded.updated_us"
        ),
        [(ws, *_key(r), r.amount, r.currency, now_us) for r in rows],
    )


def _key(r: SpendRow) -> tuple[int, str, str, str, str, str]:
    return (r.day, r.channel, r.campaign_id, r.ad_set_id, r.creative_id, r.country)


def spend_between(db: Db, d: Dialect, ws: int, start: int, end: int) -> list[SpendRow]:
    sql = (
        f"SELECT {_SPEND_COLUMNS} FROM spend WHERE workspace_id = ? AND day >= ? AND day <= ?"
        " ORDER BY day, channel, campaign_id, ad_set_id, creative_id, country"
    )
    return [SpendRow(*row) for row in db.rows(d.q(sql), (ws, start, end))]


def put_rates(db: Db, d: Dialect, ws: int, rates: Sequence[FxRate]) -> None:
    db.many(
        d.q(
            "INSERT INTO fx_rates (workspace_id, day, base, currency, rate) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (workspace_id, day, base, currency) DO UPDATE SET rate = excluded.rate"
        ),
        [(ws, r.day, r.base, r.currency, r.rate) for r in rates],
    )


def currency_of(db: Db, d: Dialect, ws: int) -> str:
    rows = db.rows(d.q("SELECT currency FROM workspaces WHERE id = ?"), (ws,))
    return str(rows[0][0]) if rows else DEFAULT_CURRENCY


def set_currency(db: Db, d: Dialect, ws: int, currency: str) -> None:
    db.many(d.q("UPDATE workspaces SET currency = ? WHERE id = ?"), [(currency, ws)])
