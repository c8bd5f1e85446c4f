"""The read models' SQL form of the identity rule (``readmodel_sql.is_identity_sql``, which the
event index's ``solo`` flag uses) says what ``domain.identity.is_identity`` says, on both
backends, for placeholders in any case and padding, and for the characters where SQL and
Python could part: Unicode whitespace, the Kelvin sign, letters that lowercase differently."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flokit.domain.identity import LOWERS_TO_ASCII, PLACEHOLDER_IDS, WHITESPACE, is_identity
from flokit.store.readmodel_sql import POSTGRES, SQLITE, Dialect, is_identity_sql

Check = Callable[[str | None], bool]
#: Characters SQL and Python might treat differently: every whitespace, the Kelvin sign,
#: dotted capital I (its lowercase is two characters), sharp s, Greek sigma, a zero-width space.
TRICKY = WHITESPACE + "".join(LOWERS_TO_ASCII) + "\u0130\u00df\u03a3\u200b"


def _variant(draw: st.DrawFn) -> str:
    """A placeholder with random case, padding and maybe one character swapped."""
    base = draw(st.sampled_from(sorted(PLACEHOLDER_IDS)))
    cased = "".join(c.upper() if draw(st.booleans()) else c for c in base)
    if "k" in cased and draw(st.booleans()):
        cased = cased.replace("k", "\u212a")
    pad = st.text(alphabet=WHITESPACE, max_size=3)
    return draw(pad) + cased + draw(pad)


ids = st.one_of(
    st.none(),
    st.composite(lambda draw: _variant(draw))(),
    st.text(alphabet=st.sampled_from(list(TRICKY + "aIdK0_ ")), max_size=6),
    st.text(max_size=8).filter(lambda s: "\x00" not in s),
)


def _sqlite_check() -> Iterator[Check]:
    conn = sqlite3.connect(":memory:")
    sql = f"SELECT {is_identity_sql('user_id', SQLITE)} FROM (SELECT ? AS user_id)"
    yield lambda value: bool(conn.execute(sql, (value,)).fetchone()[0])
    conn.close()


def _postgres_check(url: str) -> Iterator[Check]:
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    sql = POSTGRES.q(
        f"SELECT {is_identity_sql('user_id', POSTGRES)} FROM (SELECT ?::text AS user_id) t"
    )
    yield lambda value: bool(conn.execute(sql, (value,)).fetchone()[0])  # type: ignore[index]
    conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def check(request: pytest.FixtureRequest) -> Iterator[Check]:
    if request.param == "sqlite":
        yield from _sqlite_check()
    else:
        yield from _postgres_check(request.getfixturevalue("postgres_url"))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=ids)
@example(value="UN\u212aNOWN")  # Kelvin sign: Python lowercases it to k, a placeholder
@example(value="\u0130D")  # dotted I: "i\u0307d" in Python, "id" in some locales' SQL
@example(value="\u3000NaN\x1c")
@example(value="\u200bnull")  # a zero-width space is not whitespace: someone
def test_sql_and_python_agree_on_who_is_someone(check: Check, value: str | None) -> None:
    assert check(value) == is_identity(value), repr(value)


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=["sqlite", "postgresql"])
def test_every_placeholder_is_in_the_sql(dialect: Dialect) -> None:
    sql = is_identity_sql("x", dialect)
    assert all(f"'{p}'" in sql for p in PLACEHOLDER_IDS)


def test_the_whitespace_is_what_strip_removes() -> None:
    assert "".join(c for c in map(chr, range(0x110000)) if c.isspace()) == WHITESPACE
    assert {c: c.lower() for c in map(chr, range(128, 0x110000)) if c.lower().isascii()} == (
        LOWERS_TO_ASCII
    )
