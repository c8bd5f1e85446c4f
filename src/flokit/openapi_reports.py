"""The OpenAPI paths of spend, exchange rates and reports (docs/reports.md)."""

from __future__ import annotations

from typing import Any

_NULL_STRING = {"type": ["string", "null"]}
_DATE = {"type": "string", "format": "date"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_ROW_ERRORS = _object(
    ["status", "accepted", "rejected", "errors"],
    status={"const": "ok"},
    accepted={"type": "integer"},
    rejected={"type": "integer"},
    errors={
        "type": "array",
        "items": _object(
            ["index", "reason"],
            index={"type": "integer"},
            reason={"type": "string"},
            field=_NULL_STRING,
        ),
    },
)
_SPEND_ROW = _object(
    ["date", "channel", "campaign_id", "spend"],
    date=_DATE,
    channel={"type": "string"},
    campaign_id={"type": "string"},
    ad_set_id=_NULL_STRING,
    creative_id=_NULL_STRING,
    country=_NULL_STRING,
    spend={"type": "number", "minimum": 0},
    currency={"type": "string", "pattern": "^[A-Z]{3}$"},
)
_FX_ROW = _object(
    ["date", "currency", "rate"],
    date=_DATE,
    currency={"type": "string", "pattern": "^[A-Z]{3}$"},
    rate={"type": "number", "exclusiveMinimum": 0},
    base={"type": "string", "pattern": "^[A-Z]{3}$"},
)


def _rows_body(row: dict[str, Any]) -> dict[str, Any]:
    schema = _object(["rows"], rows={"type": "array", "items": row, "maxItems": 10_000})
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def report_paths(
    errors: Any, json: Any, query: Any, secured: Any, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Spend and exchange-rate paths (and, given in ``extra``, the reports')."""
    required_date = {"type": "string", "format": "date"}
    dates = [
        {**query("start_date", required_date, "First day (YYYY-MM-DD)"), "required": True},
        {**query("end_date", required_date, "Last day (YYYY-MM-DD)"), "required": True},
    ]
    spend_page = _object(
        ["rows", "currency"],
        rows={"type": "array", "items": _SPEND_ROW},
        currency={"type": "string"},
    )
    return {
        "/v1/spend": {
            "post": {
                "summary": "Upsert up to 10,000 daily spend rows (a restated day replaces it)",
                "security": secured,
                "requestBody": _rows_body(_SPEND_ROW),
                "responses": {
                    "200": json(_ROW_ERRORS, "Rows stored and rows refused"),
                    **errors("400", "401", "403", "413", "415", "500", "503"),
                },
            },
            "get": {
                "summary": "The spend rows of a date range",
                "security": secured,
                "parameters": dates,
                "responses": {"200": json(spend_page, "The rows"), **errors("400", "401", "500")},
            },
        },
        "/v1/fx-rates": {
            "post": {
                "summary": "Upsert up to 10,000 daily exchange rates into the reporting currency",
                "security": secured,
                "requestBody": _rows_body(_FX_ROW),
                "responses": {
                    "200": json(_ROW_ERRORS, "Rows stored and rows refused"),
                    **errors("400", "401", "403", "413", "415", "500", "503"),
                },
            }
        },
        **(extra or {}),
    }
