"""Browser tests: Playwright's sync API driving Debian's Chromium against pytest-django's live
server (a real HTTP server in a thread, on the test database, transactional).

One Chromium for the whole package, a new context (cookies, storage) per test. Chromium is
Debian's (`apt-get install chromium`): `playwright install` downloads browsers, which CI cannot.
Missing Chromium skips these tests locally and fails them in CI (tests/conftest.py's `require`).

Personas log in by a session cookie made on the server side (``log_in``), which is quick; the
login form itself is exercised in test_smoke.py and test_demo.py. Every tab fails its test on
a script error, a CSP refusal, a missing asset or a server error (``context``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

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
    Response,
    sync_playwright,
)

from batchwatch.alerts.from_signals import signals_route
from batchwatch.alerts.models import Incident
from batchwatch.catalog import services as catalog
from batchwatch.runs.ledger import signal_build, signals_emit
from batchwatch.runs.models import Run, RunSource, RunState, Signal, Span
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


# What a page loads that must be there: a missing one breaks the page silently.
ASSETS = {"script", "stylesheet", "image", "font"}


@pytest.fixture
def timezone_id() -> str:
    """The browser's time zone (``@pytest.mark.parametrize("timezone_id", [...])`` for another)."""
    return "UTC"


@pytest.fixture
def context(browser: Browser, live_server, timezone_id: str) -> Iterator[BrowserContext]:
    """A fresh browser profile whose pages (every tab) fail the test on a script error, a
    refused script or style (the CSP says so on the console), a missing asset or any server
    error. A 4xx answer to a form or a fetch is the application's to give; tests check it
    where it matters."""
    context = browser.new_context(base_url=live_server.url, timezone_id=timezone_id)
    context.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every 4xx/5xx load as "Failed to load resource"; on_response judges.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console: {message.text} ({message.location['url']})")

    def on_response(response: Response) -> None:
        request = response.request
        if response.status >= 500 or (
            response.status >= 400
            and request.resource_type in ASSETS
            and not request.url.endswith("/favicon.ico")  # Chromium asks for it by itself
        ):
            problems.append(f"{response.status} for {request.method} {request.url}")

    context.on("weberror", lambda error: problems.append(f"script error: {error.error}"))
    context.on("console", on_console)
    context.on("response", on_response)
    yield context
    context.close()
    assert not problems, "the browser reported:\n" + "\n".join(problems)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab of ``context`` (more: ``context.new_page()``, watched the same way)."""
    return context.new_page()


# now.js polls every 15 s; the page's clock is Playwright's, so tests move it instead of waiting.
PAST_A_REFRESH_MS = 16_000


def mark_the_document(page: Page) -> None:
    """A flag that only survives if the page is never reloaded."""
    page.evaluate("window.__notReloaded = true")


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"


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


@pytest.fixture
def failed_run_incident(team_a, route_tree) -> Incident:
    """The incident of a traced Spark run of Ledger's that failed ten minutes ago, opened as
    the ledger opens them: a FAILED signal, routed as an alert of its job and run."""
    now = datetime.now(UTC)
    job = catalog.job_create(
        engine="spark", namespace="prod-spark", name="ledger_close", owner_team=team_a
    )
    trace_id, root = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    run = Run.objects.create(
        job=job,
        external_id="spark-application-1732417200",
        state=RunState.FAILED,
        source=RunSource.OTLP,
        started_at=now - timedelta(minutes=40),
        ended_at=now - timedelta(minutes=10),
        trace_id=trace_id,
        root_span_id=root,
    )
    Span.objects.create(
        trace_id=trace_id,
        span_id=root,
        name="ledger_close",
        start_time=run.started_at,
        end_time=run.ended_at,
        status_code=2,
        status_message="Job aborted: stage 3 failed 4 times",
        service_name="spark",
    )
    Span.objects.create(
        trace_id=trace_id,
        span_id="b7ad6b7169203331",
        parent_span_id=root,
        name="stage 3: write ledger_balances",
        start_time=run.started_at + timedelta(minutes=5),
        end_time=run.ended_at,
        status_code=2,
        status_message="ExecutorLostFailure: container killed on exit code 137",
        service_name="spark",
    )
    signal = signal_build(
        run=run,
        kind=Signal.Kind.FAILED,
        severity=Signal.Severity.CRITICAL,
        summary="ledger_close failed: Job aborted: stage 3 failed 4 times",
        now=now - timedelta(minutes=9),
    )
    assert signals_emit([signal]) == 1
    assert signals_route(now=now) == 1
    return Incident.objects.get()
