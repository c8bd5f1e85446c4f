"""Data → Reports in a real headless browser (Debian's chromium driven by Playwright) against a
real ``flokit serve``: the chart library comes from the package, nothing leaves 127.0.0.1, and
the page's pure pieces (sorting, formatting, the charts' data) do what the table and charts
rely on."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from server import Server, cli

ROOT = Path(__file__).resolve().parent.parent
VENDOR = files("flokit") / "web" / "vendor"
UPLOT_JS = "uPlot-1.6.32.iife.min.js"
UPLOT_CSS = "uPlot-1.6.32.min.css"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    db = tmp_path_factory.mktemp("reports") / "reports.db"
    key = cli(db, "workspaces", "create", "w")["api_key"]
    running = Server(db)
    try:
        yield running, key
    finally:
        running.stop()


def test_the_chart_library_is_shipped_in_the_package_and_served_from_it(
    server: tuple[Server, str],
) -> None:
    running, _ = server
    for name, media_type in ((UPLOT_JS, "text/javascript"), (UPLOT_CSS, "text/css")):
        answer = httpx.get(f"{running.url}/app/vendor/{name}")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.content == (VENDOR / name).read_bytes()
    assert answer.content.startswith(b".uplot")
    script = (VENDOR / UPLOT_JS).read_bytes()
    assert script.startswith(b"/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert "MIT License" in (VENDOR / "uPlot-LICENSE").read_text()
    for name in ("uPlot-LICENSE", "README.md", "..%2Fapp.js", "%2E%2E%2Flayout.html", "x.js"):
        assert httpx.get(f"{running.url}/app/vendor/{name}").status_code == 404
    # What a wheel holds is pyproject's package-data: every vendored file must match it.
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    globs = package_data["package-data"]["flokit"]
    shipped = [p.name for p in (ROOT / "src/flokit/web/vendor").iterdir()]
    assert {UPLOT_JS, UPLOT_CSS, "uPlot-LICENSE"} <= set(shipped)
    for name in shipped:
        assert any(fnmatch(f"web/vendor/{name}", glob) for glob in globs), name


def test_the_page_loads_its_chart_library_from_the_server_only(
    page: Page, server: tuple[Server, str], outside: list[str]
) -> None:
    running, _ = server
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{running.url}/app/reports")
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Reports")
    expect(page.locator("#message")).to_contain_text("No key saved")
    assert page.evaluate("typeof uPlot") == "function"
    assert f"{running.url}/app/vendor/{UPLOT_JS}" in requested
    assert f"{running.url}/app/vendor/{UPLOT_CSS}" in requested
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in requested), requested
    # The other pages link to it.
    page.goto(f"{running.url}/app/events")
    page.click("nav >> text=Reports")
    expect(page).to_have_url(f"{running.url}/app/reports")
    assert outside == []


def test_rows_sort_with_missing_values_last_and_ties_kept(
    page: Page, server: tuple[Server, str]
) -> None:
    running, _ = server
    page.goto(f"{running.url}/app/reports")
    rows = [
        {"group": "b", "spend": 10, "payback_days": None},
        {"group": "a", "spend": None, "payback_days": 3},
        {"group": "c", "spend": 2.5, "payback_days": 3},
        {"group": "(unattributed)", "spend": 10, "payback_days": 12},
    ]
    order = page.evaluate(
        """(rows) => {
            const by = (key, dir) => FKReports.sortRows(rows, key, dir).map((r) => r.group);
            return [by("spend", 1), by("spend", -1), by("payback_days", 1),
                    by("payback_days", -1), by("group", 1), by("group", -1)];
        }""",
        rows,
    )
    assert order == [
        ["c", "b", "(unattributed)", "a"],
        ["b", "(unattributed)", "c", "a"],
        ["a", "c", "(unattributed)", "b"],
        ["(unattributed)", "a", "c", "b"],
        ["(unattributed)", "a", "b", "c"],
        ["c", "b", "a", "(unattributed)"],
    ]


def test_cells_read_as_money_rates_counts_or_a_dash(page: Page, server: tuple[Server, str]) -> None:
    running, _ = server
    page.goto(f"{running.url}/app/reports")
    shown = page.evaluate(
        """() => [["money", 12.345], ["money", 0], ["rate", 0.71], ["rate", null],
                  ["count", 7], ["text", "(unattributed)"], ["money", undefined]]
                 .map(([kind, value]) => FKReports.formatCell(kind, value))"""
    )
    assert shown == ["12.35", "0.00", "71.0 %", "—", "7", "(unattributed)", "—"]


def test_curves_hold_each_cohorts_revenue_and_its_spend(
    page: Page, server: tuple[Server, str]
) -> None:
    running, _ = server
    page.goto(f"{running.url}/app/reports")
    week = "cumulative_net_revenue"
    cohorts = [
        {
            "group": "c1",
            "cohort_week": "2024-03-04",
            "spend": 50,
            "weeks": [{week: 10}, {week: 60}],
        },
        {"group": "c2", "cohort_week": "2024-03-11", "spend": None, "weeks": [{week: 5}]},
    ]
    made = page.evaluate("(cohorts) => FKReports.curveData(cohorts)", cohorts)
    assert made["x"] == [0, 1]
    assert [(s["label"], s["values"]) for s in made["series"]] == [
        ("c1 · week of 2024-03-04", [10, 60]),
        ("c1 · week of 2024-03-04 spend", [50, 50]),
        ("c2 · week of 2024-03-11", [5, None]),
    ]
