"""The OpenAPI paths and schemas of the read API: users, timelines, identity (docs/read-api.md)."""

from __future__ import annotations

from typing import Any

_STRING_OR_NULL = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_AS_OF = {"type": "integer", "minimum": 0, "description": "Log position the projection reached"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


_CONFLICT = _object(
    ["anonymous_id", "linked_user_id", "other_user_id", "event_id", "timestamp"],
    anonymous_id={"type": "string"},
    linked_user_id={"type": "string"},
    other_user_id={"type": "string"},
    event_id={"type": "string"},
    timestamp=_TIME,
)
_ATTRIBUTION = {
    "type": ["object", "null"],
    "properties": {
        **{n: _STRING_OR_NULL for n in ("campaign_id", "channel", "ad_set_id", "creative_id")},
        "country": _STRING_OR_NULL,
        "attributed_at": _TIME,
    },
}
_STATUS = {"enum": ["none", "trialing", "active", "cancelled", "refunded"]}
_SUBSCRIPTION = _object(
    ["status", "renewals", "trial_converted"],
    status=_STATUS,
    plan_id=_STRING_OR_NULL,
    trial_started_at=_TIME_OR_NULL,
    started_at=_TIME_OR_NULL,
    trial_converted={"type": "boolean"},
    cancelled_at=_TIME_OR_NULL,
    renewals={"type": "integer", "minimum": 0},
)
_MONEY = _object(
    ["gross", "refunded", "net"],
    gross={"type": "number"},
    refunded={"type": "number"},
    net={"type": "number"},
)

READ_SCHEMAS: dict[str, Any] = {
    "Conflict": _CONFLICT,
    "Person": _object(
        ["kind", "id", "first_seen", "last_seen", "event_count", "status", "anonymous_ids"],
        kind={"enum": ["user", "anonymous"]},
        id={"type": "string"},
        first_seen=_TIME,
        last_seen=_TIME,
        event_count={"type": "integer", "minimum": 1},
        status=_STATUS,
        anonymous_ids={"type": "array", "items": {"type": "string"}},
    ),
    "Profile": _object(
        ["user_id", "anonymous_ids", "event_count", "subscription", "revenue", "as_of"],
        user_id={"type": "string"},
        anonymous_ids={"type": "array", "items": {"type": "string"}},
        first_seen=_TIME,
        last_seen=_TIME,
        event_count={"type": "integer", "minimum": 1},
        attribution=_ATTRIBUTION,
        subscription=_SUBSCRIPTION,
        revenue={"type": "object", "additionalProperties": _MONEY},
        conflicts={"type": "array", "items": _ref("Conflict")},
        as_of=_AS_OF,
    ),
}


def read_paths(
    errors: Any, json: Any, query: Any, path: Any, paging: Any, secured: Any
) -> dict[str, Any]:
    """The read API's paths, built with the main document's helpers."""
    user = [path("user_id")]
    people_page = _object(
        ["users", "next_cursor", "as_of"],
        users={"type": "array", "items": _ref("Person")},
        next_cursor=_STRING_OR_NULL,
        as_of=_AS_OF,
    )
    timeline = _object(
        ["events", "next_cursor", "as_of"],
        events={"type": "array", "items": _ref("StoredEvent")},
        next_cursor=_STRING_OR_NULL,
        as_of=_AS_OF,
    )
    rate = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
    identity = _object(
        ["users", "anonymous_ids_linked", "anonymous_ids_unlinked", "conflicts", "as_of"],
        users={"type": "integer"},
        anonymous_ids_linked={"type": "integer"},
        anonymous_ids_unlinked={"type": "integer"},
        install_join_rate_7d=rate,
        unattributed_revenue_share=rate,
        conflicts=_object(
            ["count", "newest"],
            count={"type": "integer"},
            newest={"type": "array", "items": _ref("Conflict"), "maxItems": 100},
        ),
        as_of=_AS_OF,
    )
    return {
        "/v1/users": {
            "get": {
                "summary": "People (users and anonymous visitors), most recently active first",
                "security": secured,
                "parameters": [
                    query(
                        "q",
                        {"type": "string", "maxLength": 255},
                        "Prefix of a user or anonymous id",
                    ),
                    query("kind", {"enum": ["user", "anonymous"]}, "Only users or visitors"),
                    *paging(max_limit=1000),
                ],
                "responses": {"200": json(people_page, "One page"), **errors("400", "401", "500")},
            }
        },
        "/v1/users/{user_id}": {
            "get": {
                "summary": "A user's profile over their merged timeline",
                "security": secured,
                "parameters": user,
                "responses": {
                    "200": json(_ref("Profile"), "The profile"),
                    **errors("401", "404", "500"),
                },
            }
        },
        "/v1/users/{user_id}/events": {
            "get": {
                "summary": "The merged timeline (anonymous events included) by event time",
                "security": secured,
                "parameters": [
                    *user,
                    query("order", {"enum": ["asc", "desc"], "default": "desc"}, "By timestamp"),
                    *paging(max_limit=1000),
                ],
                "responses": {
                    "200": json(timeline, "One page"),
                    **errors("400", "401", "404", "500"),
                },
            }
        },
        "/v1/identity": {
            "get": {
                "summary": "Identity health: links, join rate, unattributed revenue, conflicts",
                "security": secured,
                "responses": {"200": json(identity, "The figures"), **errors("401", "500")},
            }
        },
    }
