"""Headless Chromium for every page test: Debian's /usr/bin/chromium driven by Playwright (no
browser download), a guard that keeps every request on 127.0.0.1, and a watch for script errors
and Content-Security-Policy violations. The fixtures below are the one set-up of the page tests
(tests/conftest.py makes them visible to every test module)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def block_outside(context: BrowserContext) -> list[str]:
    """Let the context's requests reach 127.0.0.1 only: any other is aborted and listed in the
    list returned, which a test asserts stays empty."""
    blocked: list[str] = []

    def guard(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    return blocked


def watch_problems(page: Page) -> list[str]:
    """Script errors and CSP violations of the page, as they happen."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    return problems


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A browser profile of its own (its own localStorage) per test."""
    made = browser.new_context()
    yield made
    made.close()


@pytest.fixture
def outside(context: BrowserContext) -> Iterator[list[str]]:
    """Requests for anywhere but 127.0.0.1: blocked, and there must be none."""
    blocked = block_outside(context)
    yield blocked
    assert blocked == []


@pytest.fixture
def fresh_page(context: BrowserContext, outside: list[str]) -> Iterator[Page]:
    """A page with nothing saved that must raise no script error nor Content-Security-Policy
    violation (and whose requests stay on 127.0.0.1)."""
    opened = context.new_page()
    problems = watch_problems(opened)
    yield opened
    assert problems == []


@pytest.fixture
def page(fresh_page: Page) -> Page:
    """The fresh page, under the name page tests use (a module may override it, e.g. to save a
    key first)."""
    return fresh_page
