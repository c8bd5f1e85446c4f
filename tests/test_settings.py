"""Settings: typed, from FLOKIT_* variables, explicit overrides win."""

from __future__ import annotations

from pathlib import Path

import pytest

from flokit.settings import Settings


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
