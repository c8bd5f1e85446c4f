"""Identity rules (analytics.md §1): which ids are identities, and who owns an event."""

from __future__ import annotations

from enum import StrEnum

#: Ids that name nobody: SDK defaults and serialisation accidents, compared case-insensitively.
PLACEHOLDER_IDS = frozenset(
    {
        "anonymous",
        "guest",
        "undefined",
        "null",
        "none",
        "nan",
        "0",
        "unknown",
        "[object object]",
        "distinct_id",
        "user_id",
        "id",
    }
)


class OwnerKind(StrEnum):
    """Whose facts an event adds to: an identified user, or an anonymous id."""

    USER = "u"
    ANONYMOUS = "a"


def is_identity(value: str | None) -> bool:
    """True when ``value`` names someone: not missing, blank or a placeholder."""
    if value is None:
        return False
    stripped = value.strip()
    return bool(stripped) and stripped.lower() not in PLACEHOLDER_IDS


def identities(user_id: str | None, anonymous_id: str | None) -> tuple[str | None, str | None]:
    """The event's ids that name someone (each checked once): a placeholder counts as absent.
    The event belongs to its user if it has one, else to its anonymous id (which a link may
    later attribute to a user); with both, it links them."""
    return (
        user_id if is_identity(user_id) else None,
        anonymous_id if is_identity(anonymous_id) else None,
    )
