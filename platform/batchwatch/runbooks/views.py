"""Runbook pages: the list with search, one runbook rendered for an incident, run or job."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from batchwatch.alerts.models import Incident
from batchwatch.alerts.permissions import can_view_incident
from batchwatch.catalog.models import Job
from batchwatch.core.links import path_for
from batchwatch.core.numbers import parse_id
from batchwatch.runbooks.models import Runbook
from batchwatch.runbooks.rendering import render as render_markdown
from batchwatch.runbooks.selectors import (
    incident_context,
    incident_runbook,
    job_context,
    run_context,
    runbook_for,
    runbooks_search,
)
from batchwatch.runbooks.source import KINDS
from batchwatch.runs.models import Run


def _subject(request):
    """The incident, run or job named in the query string (the values to render with).

    An incident the reader may not see (``can_view_incident``) is treated as not named: the
    runbook is for everyone signed in, the incident's job and failure are not, and a 404
    would only make a shared link useless to them.
    """
    if incident_id := parse_id(request.GET.get("incident")):
        incident = Incident.objects.select_related("team").filter(pk=incident_id).first()
        if incident and can_view_incident(request.user, incident, datetime.now(UTC)):
            return "incident", incident
    if run_id := parse_id(request.GET.get("run")):
        run = Run.objects.select_related("job__owner_team").filter(pk=run_id).first()
        if run:
            return "run", run
    if job_id := parse_id(request.GET.get("job")):
        job = Job.objects.select_related("owner_team").filter(pk=job_id).first()
        if job:
            return "job", job
    return None, None


@require_GET
@login_required
def runbooks(request):
    query = request.GET.get("q", "").strip()[:200]
    kind = request.GET.get("kind", "")
    kind = kind if kind in KINDS else ""
    return render(
        request,
        "web/runbooks.html",
        {"runbooks": runbooks_search(query, kind), "q": query, "kind": kind, "kinds": KINDS},
    )


@require_GET
@login_required
def runbook_for_subject(request):
    """A stable link from alerts: pick the best runbook now and show it with their values."""
    what, subject = _subject(request)
    kind = request.GET.get("kind", "")
    runbook = None
    if what == "incident":
        runbook = incident_runbook(subject)
    elif what == "run":
        labels = {"kind": kind, "engine": subject.job.engine, "job": subject.job.key}
        runbook = runbook_for(labels, job=subject.job, failure_reason=subject.failure_reason)
    elif what == "job":
        runbook = runbook_for({"kind": kind, "engine": subject.engine}, job=subject)
    if runbook is None:
        return redirect(path_for("web:runbooks", query={"kind": kind} if kind else None))
    return redirect(path_for("web:runbook", runbook.slug, query={what: subject.pk}))


@require_GET
@login_required
def runbook_page(request, slug: str):
    runbook = get_object_or_404(Runbook, slug=slug)
    what, subject = _subject(request)
    if what == "incident":
        context = incident_context(subject)
    elif what == "run":
        context = run_context(subject)
    else:
        context = job_context(subject)
    return render(
        request,
        "web/runbook.html",
        {
            "runbook": runbook,
            # Sanitised by nh3 in render_markdown: no scripts, handlers or javascript: links.
            "html": mark_safe(  # noqa: S308
                render_markdown(
                    runbook.body,
                    context,
                    link_query=f"?{urlencode({what: subject.pk})}" if subject else "",
                )
            ),
            "subject": subject,
            "what": what,
        },
    )
