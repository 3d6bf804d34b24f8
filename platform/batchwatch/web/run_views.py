"""The run page: its facts, tries, related runs and the trace as a waterfall. Thin: the
reads are ``runs.selectors`` (a fixed number of queries whatever the number of spans), what
each row shows is ``web/run_page.py``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from batchwatch.alerts.selectors_hub import engine_link
from batchwatch.runs.models import Run
from batchwatch.runs.selectors import (
    child_runs,
    load_span_details,
    run_attempts,
    run_detail,
    run_span_tree,
    trace_span,
)
from batchwatch.web import run_page
from batchwatch.web.waterfall_html import fragment_html


@require_GET
@login_required
def run_view(request, run_id: int):
    try:
        run = run_detail(run_id=run_id)
    except Run.DoesNotExist:
        raise Http404("No such run") from None
    tree = run_span_tree(run, rows=True)
    trace = run_page.waterfall(tree, job=run.job, run=run)
    attempts = run_attempts(run, run_tree=tree, rows=True)
    for attempt in attempts:
        # The waterfalls of earlier tries, below the Attempts table (the run's own is the trace).
        attempt.waterfall = (
            trace
            if attempt.tree is tree
            else run_page.waterfall(
                attempt.tree, job=run.job, run=run, prefix=f"try{attempt.attempt}-span"
            )
        )
    # The events and resource of the rows shown with their details, in one query.
    load_span_details(
        [span for a in attempts for span in run_page.shown_open(a.waterfall)]
        + run_page.shown_open(trace)
    )
    checkpoints = run_page.flink_checkpoints(run)
    return render(
        request,
        "web/run.html",
        {
            "run": run,
            "tree": tree,
            "trace": trace,
            "stages": run_page.spark_stages(trace),
            "checkpoints": checkpoints,
            "details": run_page.run_details(run, checkpoints=checkpoints),
            "engine_link": engine_link(run.job, run),
            "short_id": run_page.short_run_id(run.external_id),
            "attempts": attempts,
            "children": child_runs(run),
        },
    )


@require_GET
@login_required
def span_details(request, trace_id: str, span_id: str):
    """A span's ids, times, attributes, events and resource as an HTML fragment: what a
    waterfall row shows when it opens (``static/batchwatch/run.js`` reads it in)."""
    span = trace_span(trace_id, span_id)
    if span is None:
        raise Http404("No such span")
    return HttpResponse(fragment_html(span))
