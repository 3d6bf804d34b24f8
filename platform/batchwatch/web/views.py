"""Pages for on-call work. Thin: read through selectors, render."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from batchwatch.catalog.models import Job
from batchwatch.catalog.selectors import job_detail, schedule_next_occurrences
from batchwatch.runs.selectors import (
    duration_chart,
    expected_vs_actual,
    job_runs_recent,
    job_signals,
)
from batchwatch.slo.selectors import job_slo_states
from batchwatch.web.job_chart import duration_axes
from batchwatch.web.job_now import job_now, neighbour_runs, slo_sentence

RECENT_RUNS = 50


@require_GET
@login_required
def job_page(request, job_id: int):
    try:
        job = job_detail(job_id=job_id)
    except Job.DoesNotExist:
        raise Http404("No such job") from None
    now = datetime.now(UTC)
    runs = job_runs_recent(job.pk, now=now, limit=RECENT_RUNS)
    next_runs = schedule_next_occurrences(job, after=now, count=5)
    slo_states = job_slo_states(job.pk)
    slos = [state.slo for state, _ in slo_states]
    chart = duration_chart([r for r in runs if r.duration_seconds is not None])
    neighbour_runs(job)
    return render(
        request,
        "web/job.html",
        {
            "job": job,
            "now": now,
            "next_runs": next_runs,
            "runs": runs,
            "chart": chart,
            "axes": duration_axes(chart),
            "timeline": expected_vs_actual(runs, now=now) if job.schedule_cron else [],
            "signals": job_signals(job.pk),
            "slo_states": slo_states,
            "slo_rows": [(st, chart, slo_sentence(st.slo, now=now)) for st, chart in slo_states],
            "job_now": job_now(
                job, user=request.user, runs=runs, next_runs=next_runs, slos=slos, now=now
            ),
        },
    )


def not_found(request, exception=None):
    return render(request, "web/404.html", status=404)


def server_error(request):
    return render(request, "web/500.html", status=500)
