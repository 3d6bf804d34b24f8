"""Every page of the web app (its URL patterns, with real ids) answers with a strict
Content-Security-Policy and the other security headers, and needs no inline script."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from batchwatch.alerts.models import Incident
from batchwatch.runbooks.services import runbooks_sync
from batchwatch.runs.models import Run, RunSource, RunState, Span
from batchwatch.web.urls import app_name, urlpatterns
from tests.alerts.conftest import firing, receive
from tests.runbooks.test_links import REPO_RUNBOOKS

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
# POST only; a redirect to the runbook
STATUS = {
    "incident-act": 405,
    "incidents-bulk": 405,
    "account-time-zone": 405,
    "runbook-for": 302,
    "action-link": 404,  # a made-up token: the refusal page, with the same headers
}
NAMES = sorted(p.name for p in urlpatterns)
INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(rb"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def _directives(header: str) -> dict[str, list[str]]:
    parts = (d.strip().split() for d in header.split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def assert_secure_headers(response) -> None:
    csp = _directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.fixture
def site(admin, ledger_job, rotation, route_tree):
    """One of everything a page shows, and the URL of every page with real ids."""
    runbooks_sync(now=NOW, directory=REPO_RUNBOOKS)
    run = Run.objects.create(
        job=ledger_job,
        external_id="nightly-2026-11-21",
        state=RunState.FAILED,
        source=RunSource.OTLP,
        started_at=NOW - timedelta(hours=1),
        failure_reason="OOM",
        trace_id="cd" * 16,
    )
    span = Span.objects.create(
        trace_id=run.trace_id, span_id="a" * 16, parent_span_id="", name="spark.application",
        start_time=NOW - timedelta(hours=1), end_time=NOW, status_code=2,
        attributes={"spark.app.id": "app-1"},
    )  # fmt: skip
    receive([firing({"alertname": "Late", "job": "ledger", "team": "ledger"})], NOW)
    from batchwatch.runbooks.models import Runbook

    kwargs = {
        "job": {"job_id": ledger_job.pk},
        "team": {"slug": ledger_job.owner_team.slug},
        "team-settings": {"slug": ledger_job.owner_team.slug},
        "team-board": {"slug": ledger_job.owner_team.slug},
        "run": {"run_id": run.pk},
        "run-spans": {"run_id": run.pk},
        "span-details": {"trace_id": span.trace_id, "span_id": span.span_id},
        "incident": {"incident_id": Incident.objects.get().pk},
        "incident-act": {"incident_id": Incident.objects.get().pk},
        "rotation": {"slug": rotation.slug},
        "layer-add": {"slug": rotation.slug},
        "layer-edit": {"slug": rotation.slug, "layer_id": rotation.layers.first().pk},
        "layer-delete": {"slug": rotation.slug, "layer_id": rotation.layers.first().pk},
        "runbook": {"slug": Runbook.objects.order_by("slug").first().slug},
        "action-link": {"token": "1-ack-" + "x" * 32},
    }
    urls = {name: reverse(f"{app_name}:{name}", kwargs=kwargs.get(name)) for name in NAMES}
    urls["runbook-for"] += f"?incident={kwargs['incident']['incident_id']}"
    return urls


def test_every_page_is_walked():
    assert len(NAMES) >= 13


@pytest.mark.parametrize("name", NAMES)
def test_every_page_sends_csp_and_security_headers(name, site, admin):
    client = Client()
    client.force_login(admin)
    response = client.get(site[name])
    assert response.status_code == STATUS.get(name, 200), response.content
    assert_secure_headers(response)
    # What the policy forbids is not needed: the page still works under it.
    assert not INLINE_SCRIPT.search(response.content)
    assert not EVENT_HANDLER.search(response.content)
    assert b"javascript:" not in response.content.lower()


@pytest.mark.parametrize("path", ["/login/", "/", "/nowhere/", "/admin/login/"])
def test_anonymous_pages_and_errors_send_them_too(path, db):
    response = Client().get(path)
    assert response.status_code in (200, 302, 404)
    assert_secure_headers(response)


def test_the_api_docs_load_their_script_from_a_url(admin):
    client = Client()
    client.force_login(admin)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert_secure_headers(page)
    assert not INLINE_SCRIPT.search(page.content)
    script = re.search(rb'<script src="([^"]*\?script[^"]*)"', page.content).group(1)
    response = client.get(script.decode().replace("&amp;", "&"))
    assert response.status_code == 200 and b"SwaggerUIBundle" in response.content
