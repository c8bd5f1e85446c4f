"""Headless Chromium for the reports page's tests: Debian's /usr/bin/chromium driven by
Playwright (no browser download), a guard that keeps every request on 127.0.0.1, and a watch for
script errors and Content-Security-Policy violations."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Page, Route

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
