"""The OpenAPI 3.1 document of every ``/v1`` endpoint, its requests, responses and errors."""

from __future__ import annotations

from typing import Any

from flokit import __version__
from flokit.api.events import MAX_LIMIT as EVENTS_PAGE_MAX
from flokit.api.imports import LIST_LIMIT as IMPORTS_PAGE_MAX
from flokit.openapi_integrations import integration_paths
from flokit.openapi_read import READ_SCHEMAS, read_paths
from flokit.openapi_reports import report_paths
from flokit.pipeline.ids import ID_PATTERN


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_TEXT = {
    "400": "Malformed request: invalid_json, invalid_request, batch_too_large, validation_error",
    "401": "unauthorized: Invalid or missing API key",
    "403": "forbidden: This operation requires a read-write key",
    "404": "not_found",
    "413": "payload_too_large: body over the byte limit, compressed or decompressed",
    "415": "unsupported_media_type: Content-Type not application/json or unknown Content-Encoding",
    "500": "internal_error (with the request id)",
    "503": "unavailable: the store cannot commit now; nothing was stored (Retry-After)",
}


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _json(_ref("Error"), _ERROR_TEXT[code]) for code in codes}


_STRING_OR_NULL = {"type": ["string", "null"]}
_SCHEMAS: dict[str, Any] = {
    "Event": {
        "type": "object",
        "required": ["event", "timestamp"],
        "additionalProperties": False,
        "description": "One event; at least one of user_id and anonymous_id (taxonomy events "
        "other than install_attributed need user_id).",
        "properties": {
            "event": {"type": "string", "minLength": 1, "maxLength": 200},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "ISO 8601 with Z or an offset; when it happened",
            },
            "user_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
            "anonymous_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
            "insert_id": {
                "type": ["string", "null"],
                "minLength": 1,
                "maxLength": 128,
                "description": "Client id of the event; duplicates are stored once",
            },
            "properties": {"type": ["object", "null"]},
        },
    },
    "BatchRequest": {
        "type": "object",
        "required": ["events"],
        "properties": {"events": {"type": "array", "minItems": 1, "maxItems": 1000, "items": {}}},
    },
    "EventError": {
        "type": "object",
        "required": ["index", "event", "reason", "code", "field"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "event": _STRING_OR_NULL,
            "reason": {"type": "string", "examples": ["Missing required field: currency"]},
            "code": {
                "enum": [
                    "not_an_object",
                    "too_large",
                    "missing_field",
                    "invalid_field",
                    "unknown_field",
                ]
            },
            "field": _STRING_OR_NULL,
        },
    },
    "BatchResponse": {
        "type": "object",
        "required": ["status", "accepted", "rejected", "duplicates", "event_ids", "errors"],
        "properties": {
            "status": {"const": "ok"},
            "accepted": {"type": "integer"},
            "rejected": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "event_ids": {"type": "array", "items": _ref("EventId")},
            "errors": {"type": "array", "items": _ref("EventError")},
        },
    },
    "EventResponse": {
        "type": "object",
        "required": ["status", "event_id"],
        "properties": {"status": {"const": "ok"}, "event_id": _ref("EventId")},
    },
    "EventId": {"type": "string", "pattern": f"^{ID_PATTERN}$"},
    "StoredEvent": {
        "type": "object",
        "properties": {
            "event_id": _ref("EventId"),
            "event": {"type": "string"},
            "user_id": _STRING_OR_NULL,
            "anonymous_id": _STRING_OR_NULL,
            "timestamp": {"type": "string", "format": "date-time"},
            "received_at": {"type": "string", "format": "date-time"},
            "properties": {"type": "object"},
            "insert_id": _STRING_OR_NULL,
        },
    },
    "EventPage": {
        "type": "object",
        "required": ["events", "next_cursor"],
        "properties": {
            "events": {"type": "array", "items": _ref("StoredEvent")},
            "next_cursor": _STRING_OR_NULL,
        },
    },
    "Import": {
        "type": "object",
        "properties": {
            "import_id": {"type": "string", "pattern": "^imp_"},
            "status": {"enum": ["queued", "running", "completed", "failed"]},
            "phase": {"enum": ["validate", "store", "done"]},
            "dry_run": {"type": "boolean"},
            "file_name": _STRING_OR_NULL,
            "file_bytes": {"type": "integer"},
            "duplicate_of": _STRING_OR_NULL,
            "rows_total": {"type": ["integer", "null"]},
            "rows_processed": {"type": "integer"},
            "accepted": {"type": "integer"},
            "rejected": {"type": "integer"},
            "duplicates": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
            "errors": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "object",
                    "properties": {
                        "row": {"type": "integer", "minimum": 1},
                        "event": _STRING_OR_NULL,
                        "reason": {"type": "string"},
                    },
                },
            },
            "errors_url": {"type": "string"},
            "failure": _STRING_OR_NULL,
        },
    },
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "field": {"type": "string"},
        },
    },
}


def _paging(max_limit: int) -> list[dict[str, Any]]:
    """The ``limit`` and ``cursor`` parameters of a list endpoint (api/paging.py)."""
    limit = {"type": "integer", "minimum": 1, "maximum": max_limit, "default": 100}
    return [
        _query("limit", limit, "Page size"),
        _query("cursor", {"type": "string", "minLength": 1}, "next_cursor of the previous page"),
    ]


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_INGEST_HEADERS = [
    {"name": "Content-Encoding", "in": "header", "schema": {"enum": ["gzip", "identity"]}},
    {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
]
_SECURED: list[dict[str, list[str]]] = [{"bearer": []}]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "FloKit Events API", "version": __version__},
    "components": {
        "schemas": {**_SCHEMAS, **READ_SCHEMAS},
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "fk_rw_… (send and read) or fk_ro_… (read)",
            }
        },
    },
    "paths": {
        "/v1/batch/events": {
            "post": {
                "summary": "Send up to 1,000 events; 200 with per-event outcomes",
                "security": _SECURED,
                "parameters": _INGEST_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("BatchRequest")}},
                },
                "responses": {
                    "200": _json(_ref("BatchResponse"), "Outcome of every event"),
                    **_errors("400", "401", "403", "413", "415", "500", "503"),
                },
            }
        },
        "/v1/events": {
            "post": {
                "summary": "Send one event",
                "security": _SECURED,
                "parameters": _INGEST_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Event")}},
                },
                "responses": {
                    "200": _json(_ref("EventResponse"), "Stored (or a duplicate of)"),
                    **_errors("400", "401", "403", "413", "415", "500", "503"),
                },
            },
            "get": {
                "summary": "The workspace's events, most recently received first",
                "security": _SECURED,
                "parameters": [
                    _query("event", {"type": "string"}, "Only this event name"),
                    _query("user_id", {"type": "string"}, "Only this user"),
                    _query("anonymous_id", {"type": "string"}, "Only this anonymous id"),
                    _query(
                        "since",
                        {"type": "string", "format": "date-time"},
                        "Event timestamp at or after",
                    ),
                    _query(
                        "until", {"type": "string", "format": "date-time"}, "Event timestamp before"
                    ),
                    *_paging(max_limit=EVENTS_PAGE_MAX),
                ],
                "responses": {
                    "200": _json(_ref("EventPage"), "One page"),
                    **_errors("400", "401", "500"),
                },
            },
        },
        "/v1/imports": {
            "post": {
                "summary": "Upload a CSV file of historical events (contract §10)",
                "security": _SECURED,
                "parameters": [
                    _query("dry_run", {"type": "boolean"}, "Validate every row, store nothing")
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "text/csv": {"schema": {"type": "string"}},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"file": {"type": "string", "format": "binary"}},
                            }
                        },
                    },
                },
                "responses": {
                    "202": _json(_ref("Import"), "Queued; Location names the import"),
                    "200": _json(_ref("Import"), "The identical file was imported already"),
                    **_errors("400", "401", "403", "413", "415", "500"),
                },
            },
            "get": {
                "summary": "The workspace's imports, newest first, a page at a time",
                "security": _SECURED,
                "parameters": [
                    *_paging(max_limit=IMPORTS_PAGE_MAX),
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["imports", "next_cursor"],
                            "properties": {
                                "imports": {"type": "array", "items": _ref("Import")},
                                "next_cursor": _STRING_OR_NULL,
                            },
                        },
                        "One page of imports",
                    ),
                    **_errors("400", "401", "500"),
                },
            },
        },
        "/v1/imports/{import_id}": {
            "get": {
                "summary": "One import and its progress",
                "security": _SECURED,
                "parameters": [_path("import_id")],
                "responses": {
                    "200": _json(_ref("Import"), "The import"),
                    **_errors("401", "404", "500"),
                },
            }
        },
        "/v1/imports/{import_id}/errors.csv": {
            "get": {
                "summary": "Every rejected row as it was in the file, plus row and reason",
                "security": _SECURED,
                "parameters": [_path("import_id")],
                "responses": {
                    "200": {"description": "CSV", "content": {"text/csv": {}}},
                    **_errors("401", "404", "500"),
                },
            }
        },
        "/v1/events/{event_id}": {
            "get": {
                "summary": "One event of the workspace",
                "security": _SECURED,
                "parameters": [
                    {"name": "event_id", "in": "path", "required": True, "schema": _ref("EventId")}
                ],
                "responses": {
                    "200": _json(_ref("StoredEvent"), "The event"),
                    **_errors("401", "404", "500"),
                },
            }
        },
        **read_paths(_errors, _json, _query, _path, _paging, _SECURED),
        **report_paths(_errors, _json, _query, _SECURED),
        **integration_paths(_errors, _json, _path, _SECURED),
    },
}
