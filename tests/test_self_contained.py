"""A clone on its own runs every test: nothing the tests, the code, the benchmarks or CI read
lies outside the repository (the spec's examples the tests replay are in tests/fixtures)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, seed_batch

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("tests", "src", "bench", "sdk", ".ci", "Makefile", "pyproject.toml")
# The sibling directory the spec came in, written in parts so that this file does not match
# itself: as a relative path, as its spec folder, as a quoted path part; and this machine's
# absolute paths.
SIBLING = "sha" + "red"
OUTSIDE = "|".join(
    [
        re.escape("..") + r"[/\\]" + SIBLING,
        SIBLING + r"[/\\]spec",
        r"""["']""" + SIBLING + r"""["']\s*/""",
        re.escape("/" + "work/"),
    ]
)


def source_files() -> list[Path]:
    found: list[Path] = []
    for name in SCANNED:
        top = REPO / name
        candidates = [top] if top.is_file() else sorted(top.rglob("*"))
        found += [
            path
            for path in candidates
            if path.is_file()
            and path.suffix in {"", ".py", ".sh", ".toml", ".cfg", ".sql", ".md", ".json", ".csv"}
            and not any(part.startswith(".") and part != ".ci" for part in path.parts[-3:])
            and "egg-info" not in str(path)
        ]
    return found


def test_nothing_refers_to_files_outside_the_repository() -> None:
    files = source_files()
    assert any(f.name == "conftest.py" for f in files) and any(
        f.parent.name == ".ci" for f in files
    )
    pattern = re.compile(OUTSIDE)
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_the_documented_examples_are_fixtures_of_the_repository() -> None:
    assert FIXTURES.is_relative_to(REPO) and (FIXTURES / "batch-events-curl.sh").is_file()
    assert [e["event"] for e in seed_batch()["events"]] == [
        "paywall_viewed",
        "trial_started",
        "subscription_started",
    ]


def test_the_readme_links_the_api_contract() -> None:
    readme = (REPO / "README.md").read_text()
    for page in ("docs/api.md", "docs/read-api.md"):
        assert f"]({page}" in readme and (REPO / page).is_file()


def test_a_copy_of_the_tests_alone_runs_the_contract_tests(tmp_path: Path) -> None:
    """The tests and the pytest settings, copied where nothing else lies beside them, run the
    tests of the documented example (on SQLite: the store is not what is checked here)."""
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "tests", clone / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", clone)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clone"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_batch_contract.py",
            "-k",
            "sqlite and (seed or documented)",
            "-p",
            "no:cacheprovider",
            "--basetemp",
            str(tmp_path / "runs"),
        ],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]
