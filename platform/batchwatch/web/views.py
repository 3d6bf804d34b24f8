"""Pages for on-call work. Thin: read through selectors, render."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from batchwatch.catalog.models import Engine, Job, Team
from batchwatch.catalog.permissions import can_manage_jobs_of
from batchwatch.catalog.selectors import (
    catalog_overview,
    job_detail,
    schedule_next_occurrences,
    team_roles_of,
)
from batchwatch.runs.selectors import (
    duration_chart,
    expected_vs_actual,
    job_runs_recent,
    job_signals,
    latest_run_by_job,
)
from batchwatch.slo.selectors import job_slo_states, slo_status_by_team
from batchwatch.web.job_chart import duration_axes
from batchwatch.web.job_now import job_now, slo_sentence

RECENT_RUNS = 50


@require_GET
@login_required
def overview(request):
    team = request.GET.get("team") or None
    engine = request.GET.get("engine") or None
    if engine and engine not in Engine.values:
        engine = None
    search = (request.GET.get("q") or "").strip() or None
    groups = catalog_overview(team=team, engine=engine, search=search)
    latest = latest_run_by_job([job.pk for g in groups for job in g.jobs])
    slo_status = slo_status_by_team()
    for group in groups:
        for job in group.jobs:
            job.last_run = latest.get(job.pk)
        last_states = [j.last_run.state for j in group.jobs if j.last_run]
        group.health = {
            "failed": last_states.count("failed"),
            "missed": last_states.count("missed"),
            "slo": slo_status.get(group.team.pk if group.team else None, {}),
        }
    return render(
        request,
        "web/overview.html",
        {
            "groups": groups,
            "teams": Team.objects.all(),
            "engines": Engine.choices,
            "filters": {"team": team or "", "engine": engine or "", "q": search or ""},
            "filtering": bool(team or engine or search),
            "job_total": sum(len(g.jobs) for g in groups),
            "my_roles": team_roles_of(request.user),
        },
    )


@require_GET
@login_required
def team_page(request, slug: str):
    team = get_object_or_404(Team.objects.prefetch_related("memberships__user"), slug=slug)
    groups = catalog_overview(team=slug)
    jobs = groups[0].jobs if groups else []
    return render(
        request,
        "web/team.html",
        {
            "team": team,
            "jobs": jobs,
            # Its members and staff see the settings page (its owners change it).
            "settings_visible": can_manage_jobs_of(request.user, team),
        },
    )


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
