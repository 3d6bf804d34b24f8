"""Browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's live
server (a real HTTP server in a thread, on the test database, transactional).

One Chromium for the whole package, a new context (cookies, storage) per test. Chromium is
Debian's (`apt-get install chromium`): `playwright install` downloads browsers, which CI cannot.
Missing Chromium skips these tests locally and fails them in CI (tests/conftest.py's `require`).

Personas log in by a session cookie made on the server side (``log_in``), which is quick; the
login form itself is exercised once, in test_smoke.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import (
    APIRequestContext,
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    sync_playwright,
)

from batchwatch.alerts.models import Incident
from tests.alerts.conftest import firing, receive
from tests.conftest import require

CHROMIUM = os.environ.get("BATCHWATCH_CHROMIUM", "/usr/bin/chromium")
# Short waits: a page that has not shown what is expected within this is broken, and the whole
# package must stay within about a minute.
TIMEOUT_MS = 5_000


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    require(os.access(CHROMIUM, os.X_OK), f"Chromium ({CHROMIUM}; apt-get install chromium)")
    # Playwright's sync API keeps an event loop running on this thread, so Django would refuse
    # ORM calls from the tests ("SynchronousOnlyOperation"); nothing here is async really.
    # Package scope: the loop (and this variable) end with the last browser test.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    started = sync_playwright().start()
    try:
        yield started
    finally:
        started.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield chromium
    chromium.close()


@pytest.fixture
def api(playwright: Playwright, live_server) -> Iterator[APIRequestContext]:
    """HTTP requests to the live server without the browser's cookies (a script's view)."""
    context = playwright.request.new_context(base_url=live_server.url)
    yield context
    context.dispose()


@pytest.fixture
def context(browser: Browser, live_server) -> Iterator[BrowserContext]:
    context = browser.new_context(base_url=live_server.url, timezone_id="UTC")
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that fails the test on a script error or a refused script/style (CSP)."""
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))

    def on_console(message: ConsoleMessage) -> None:
        # Chromium asks for /favicon.ico by itself; its 404 is no page's doing.
        if message.type == "error" and not message.location["url"].endswith("/favicon.ico"):
            problems.append(f"console: {message.text} ({message.location['url']})")

    page.on("console", on_console)
    yield page
    assert not problems, "the browser reported:\n" + "\n".join(problems)


@pytest.fixture
def log_in(context: BrowserContext, live_server) -> Callable[[object], None]:
    """``log_in(user)``: the browser context is signed in as ``user`` (a server-side session)."""

    def sign_in(user: object) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.clear_cookies()
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])

    return sign_in


@pytest.fixture
def current_incident(route_tree) -> Incident:
    """A triggered incident of team A (Ledger): a critical failure of its nightly close."""
    receive(
        [
            firing(
                {
                    "alertname": "LedgerCloseFailed",
                    "job": "close",
                    "team": "ledger",
                    "severity": "critical",
                },
                summary="Ledger nightly close failed",
            )
        ],
        datetime.now(UTC),
    )
    return Incident.objects.get()
