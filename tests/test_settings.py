"""Settings: typed, from FLOKIT_* variables, explicit overrides win."""

from __future__ import annotations

import dataclasses
import typing
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from flokit.settings import Settings, SettingsError, env_name, parse_setting

#: One good environment value per type a setting may have, and one that is not of it (None:
#: every string is one). A setting of a type missing here fails the test: add the type.
_SAMPLES: dict[type, tuple[str, str | None]] = {
    str: ("some text", None),
    int: ("7", "seven"),
    float: ("2.5", "fast"),
    bool: ("false", "maybe"),
    Path: ("/tmp/flokit-somewhere", None),
}


def _field_types() -> list[tuple[str, Any, bool]]:
    """Every field of Settings: its name, its type (``X`` of ``X | None``), whether optional."""
    hints = typing.get_type_hints(Settings)
    out = []
    for field in dataclasses.fields(Settings):
        args = typing.get_args(hints[field.name])
        optional = type(None) in args
        kind = next(a for a in args if a is not type(None)) if optional else hints[field.name]
        out.append((field.name, kind, optional))
    return out


def _sample(kind: Any) -> tuple[str, str | None]:
    if isinstance(kind, type) and issubclass(kind, Enum):
        return str(list(kind)[-1].value), "not-a-member"
    assert kind in _SAMPLES, f"no sample value for settings of type {kind!r}: add one"
    return _SAMPLES[kind]


@pytest.mark.parametrize(("name", "kind", "optional"), _field_types())
def test_every_setting_parses_into_its_annotated_type(name: str, kind: Any, optional: bool) -> None:
    good, bad = _sample(kind)
    value = getattr(Settings.from_env({env_name(name): good}), name)
    assert isinstance(value, kind), (name, value)
    if optional:
        assert getattr(Settings.from_env({env_name(name): ""}), name) is None
    if bad is not None:
        with pytest.raises(SettingsError, match=env_name(name)):
            Settings.from_env({env_name(name): bad})


class _Colour(Enum):
    RED = "red"


def test_enums_floats_and_optionals_parse_and_refuse_by_name() -> None:
    assert parse_setting("red", _Colour | None, "FLOKIT_C") is _Colour.RED
    assert parse_setting("", _Colour | None, "FLOKIT_C") is None
    with pytest.raises(SettingsError, match=r"FLOKIT_C='blue' is not a valid _Colour: use one"):
        parse_setting("blue", _Colour, "FLOKIT_C")
    assert parse_setting("0.25", float, "FLOKIT_F") == 0.25
    with pytest.raises(SettingsError, match="FLOKIT_F"):
        parse_setting("nan", float, "FLOKIT_F")
    with pytest.raises(TypeError, match="no parser"):
        parse_setting("x", list[int], "FLOKIT_L")


def test_defaults_follow_the_contract() -> None:
    s = Settings()
    assert (s.max_body_bytes, s.max_batch_events, s.max_event_bytes, s.max_properties_depth) == (
        10 * 1024 * 1024,
        1000,
        32 * 1024,
        8,
    )
    assert (s.host, s.port, s.sqlite_path) == ("127.0.0.1", 8080, Path("flokit.db"))


def test_environment_sets_defaults_and_options_override() -> None:
    env = {
        "FLOKIT_DB": "/tmp/x.db",
        "FLOKIT_HOST": "0.0.0.0",
        "FLOKIT_PORT": "9000",
        "FLOKIT_LOG_REQUESTS": "false",
    }
    s = Settings.from_env(env)
    assert (s.sqlite_path, s.host, s.port, s.log_requests) == (
        Path("/tmp/x.db"),
        "0.0.0.0",
        9000,
        False,
    )
    assert Settings.from_env(env, port=9100, host=None).port == 9100


def test_round_trip_through_the_environment_of_a_worker() -> None:
    s = Settings(port=1234, max_event_bytes=100, log_requests=False)
    assert Settings.from_env(s.as_env()) == s


def test_bad_value_names_the_variable() -> None:
    with pytest.raises(ValueError, match="FLOKIT_PORT"):
        Settings.from_env({"FLOKIT_PORT": "eighty"})


def test_a_bool_that_is_neither_true_nor_false_is_refused() -> None:
    """Before, anything but 1/true/yes/on quietly meant False (FLOKIT_PROJECTOR=ture)."""
    assert Settings.from_env({"FLOKIT_RATE_LIMITS": "off"}).rate_limits is False
    with pytest.raises(SettingsError, match="FLOKIT_PROJECTOR='ture'"):
        Settings.from_env({"FLOKIT_PROJECTOR": "ture"})
