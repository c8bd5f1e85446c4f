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


def owner_of(user_id: str | None, anonymous_id: str | None) -> tuple[OwnerKind, str] | None:
    """The identity an event belongs to as sent: its user if it names one, else its anonymous
    id (which a link may later attribute to a user), else nobody."""
    if is_identity(user_id):
        assert user_id is not None
        return OwnerKind.USER, user_id
    if is_identity(anonymous_id):
        assert anonymous_id is not None
        return OwnerKind.ANONYMOUS, anonymous_id
    return None


def link_of(user_id: str | None, anonymous_id: str | None) -> tuple[str, str] | None:
    """The (anonymous id, user id) pair an event links, if both name someone."""
    if is_identity(user_id) and is_identity(anonymous_id):
        assert user_id is not None and anonymous_id is not None
        return anonymous_id, user_id
    return None
