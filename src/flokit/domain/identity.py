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


#: What ``str.strip()`` removes: every character for which ``str.isspace()`` holds (the read
#: models' SQL repeats this rule, so it is spelled out; a test checks it against Python).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: The one character beyond ASCII that ``str.lower()`` turns into ASCII (KELVIN SIGN -> k).
LOWERS_TO_ASCII = {"\u212a": "k"}


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
