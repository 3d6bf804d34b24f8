"""The run page: its facts, tries, related runs and the trace as a waterfall. Thin: the
reads are ``runs.selectors`` and ``runs.selectors_trace`` (a fixed number of queries whatever
the number of spans: the tree's shape, then the whole rows of the spans shown), what each row
shows is ``web/run_page.py``, the Spark stage table ``web/run_stages.py``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from batchwatch.alerts.selectors_hub import engine_link
from batchwatch.runs.models import Run
from batchwatch.runs.selectors import (
    SpanNode,
    child_runs,
    load_span_details,
    run_attempts,
    run_detail,
    trace_span,
)
from batchwatch.runs.selectors_trace import fill_span_rows, trace_shape
from batchwatch.web import run_page, run_stages
from batchwatch.web.waterfall_html import fragment_html, fragment_rows_html


class BadParameter(ValueError):
    pass


def _count(request, name: str, *, default: int | None) -> int | None:
    """A non-negative whole number from the query string (``default`` when absent)."""
    text = request.GET.get(name, "")
    if text == "":
        return default
    if not text.isdigit() or len(text) > 9:
        raise BadParameter(f"{name} must be a whole number from 0, not {text[:20]!r}.")
    return int(text)


def _run(run_id: int) -> Run:
    try:
        return run_detail(run_id=run_id)
    except Run.DoesNotExist:
        raise Http404("No such run") from None


@require_GET
@login_required
def run_view(request, run_id: int):
    try:
        offset = _count(request, "offset", default=0) or 0
        stage_offset = _count(request, "stages", default=None)
    except BadParameter as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    run = _run(run_id)
    shape = trace_shape(run)
    tree = shape.tree
    offset = min(offset, max(0, len(tree.flat) - 1)) // run_page.WINDOW * run_page.WINDOW
    stages = run_stages.plan_stages(tree, offset=stage_offset)

    def fill(nodes: list[SpanNode]) -> None:
        # The rows shown and the stages' in one query.
        fill_span_rows([*nodes, *(node for _, node in stages.nodes)])

    trace = run_page.waterfall(
        tree,
        job=run.job,
        run=run,
        offset=offset,
        beyond=run_page.place_beyond(tree, shape.errors),
        fill=fill,
    )
    trace.more_url = reverse("web:run-spans", args=[run.pk])
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
    shown = {id(row.node) for row in trace.rows}
    return render(
        request,
        "web/run.html",
        {
            "run": run,
            "tree": tree,
            "span_count": shape.span_count,
            "trace": trace,
            "stages": run_stages.stage_table(stages, shown=shown, window=run_page.WINDOW),
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
def waterfall_rows(request, run_id: int):
    """Rows ``offset`` to ``offset + limit`` (at most ``run_page.WINDOW``) of the run's
    waterfall as an HTML fragment: what ``static/batchwatch/run.js`` reads in where the page
    left rows out (without script, the page's ``?offset=`` link shows them)."""
    try:
        offset = _count(request, "offset", default=0) or 0
        limit = _count(request, "limit", default=run_page.WINDOW) or 0
    except BadParameter as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    run = _run(run_id)
    tree = trace_shape(run, errors=False).tree
    trace = run_page.waterfall(
        tree,
        job=run.job,
        run=run,
        offset=offset,
        limit=min(limit, run_page.WINDOW),
        chain=False,
        fill=fill_span_rows,
    )
    return HttpResponse(fragment_rows_html(trace.rows))


@require_GET
@login_required
def span_details(request, trace_id: str, span_id: str):
    """A span's ids, times, attributes, events and resource as an HTML fragment: what a
    waterfall row shows when it opens (``static/batchwatch/run.js`` reads it in)."""
    span = trace_span(trace_id, span_id)
    if span is None:
        raise Http404("No such span")
    return HttpResponse(fragment_html(span))
