"""Reads: the runbook of an alert, an incident or a run, and the values it is rendered with."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Q

from batchwatch.alerts.models import Alert, Incident, IncidentAlert
from batchwatch.catalog.links import job_dashboard_url
from batchwatch.catalog.models import Job
from batchwatch.core.links import absolute_url
from batchwatch.runbooks.models import Runbook
from batchwatch.runbooks.selection import AlertFacts, best
from batchwatch.runs.models import Run

# Alertnames of our own signals → their kinds (external alerts carry no "kind" label).
KIND_OF_ALERTNAME = {
    "BatchJobMissed": "missed",
    "BatchJobLateStart": "late_start",
    "BatchJobOverran": "overran",
    "BatchJobTooFast": "too_fast",
    "BatchJobFailed": "failed",
    "BatchJobRetried": "retried",
    "BatchSLO": "slo",
    "BatchPredictedMiss": "predicted_miss",
    # The SLO alerts of the generated Prometheus rules (`rules build`), via Alertmanager.
    "BatchSLOBurnRatePage": "slo",
    "BatchSLOBudgetLow": "slo",
}


def runbook_for(
    labels: dict, *, job: Job | None = None, failure_reason: str = "", kind: str = ""
) -> Runbook | None:
    """The job's override if it names an existing runbook, else the most specific match."""
    if job is not None and job.runbook:
        override = Runbook.objects.filter(slug=job.runbook).first()
        if override is not None:
            return override
    kind = kind or labels.get("kind") or KIND_OF_ALERTNAME.get(labels.get("alertname", ""), "")
    return best(
        list(Runbook.objects.all()), AlertFacts.of(labels, failure_reason=failure_reason, kind=kind)
    )


def _run_of(alert: Alert) -> Run | None:
    if alert.signal_id and alert.signal.run_id:
        return alert.signal.run
    return None


def runbook_for_alert(alert: Alert, *, attached: bool = False) -> Runbook | None:
    run = _run_of(alert)
    return runbook_for(
        alert.labels,
        job=alert.job,
        failure_reason=run.failure_reason if run else "",
        kind="upstream_late" if attached else "",
    )


def incident_lead(incident: Incident) -> tuple[Alert | None, bool]:
    """The alert an incident's runbook is chosen by: its first grouped alert (else attached)."""
    members = list(
        IncidentAlert.objects.filter(incident=incident)
        .select_related("alert__job", "alert__signal__run")
        .order_by("added_at", "id")
    )
    grouped = [m for m in members if not m.attached_reason]
    lead = (grouped or members or [None])[0]
    return (lead.alert, bool(lead.attached_reason)) if lead else (None, False)


def incident_runbook(incident: Incident) -> Runbook | None:
    alert, attached = incident_lead(incident)
    return runbook_for_alert(alert, attached=attached) if alert else None


def _base() -> str:
    return settings.BATCHWATCH_BASE_URL


def job_context(job: Job | None) -> dict[str, str]:
    if job is None:
        return {"base_url": _base()}
    return {
        "base_url": _base(),
        "job": job.key,
        "job_url": absolute_url("web:job", job.pk),
        "engine": job.engine,
        "team": job.owner_team.slug if job.owner_team_id else "",
        "dashboard_url": job_dashboard_url(job),
    }


def run_context(run: Run) -> dict[str, str]:
    context = job_context(run.job)
    context.update(
        run=run.external_id,
        run_url=absolute_url("web:run", run.pk),
        trace_url=absolute_url("trace", run.trace_id) if run.trace_id else "",
        failure_reason=(run.failure_reason or "").strip().splitlines()[0][:500]
        if run.failure_reason
        else "",
    )
    return context


def incident_context(incident: Incident) -> dict[str, str]:
    alert, _ = incident_lead(incident)
    run = _run_of(alert) if alert else None
    context = run_context(run) if run else job_context(alert.job if alert else None)
    labels = alert.labels if alert else {}
    context.update(
        incident=f"#{incident.pk}",
        incident_url=absolute_url("web:incident", incident.pk),
        alertname=labels.get("alertname", ""),
        kind=labels.get("kind", "") or KIND_OF_ALERTNAME.get(labels.get("alertname", ""), ""),
        severity=incident.severity or labels.get("severity", ""),
        slo=labels.get("slo", ""),
    )
    context.setdefault("job", labels.get("job", ""))
    if not context.get("team"):
        context["team"] = incident.team.slug if incident.team_id else labels.get("team", "")
    return {k: v for k, v in context.items() if v}


def runbooks_search(query: str = "", kind: str = ""):
    rows = Runbook.objects.all()
    if query:
        rows = rows.filter(
            Q(title__icontains=query) | Q(body__icontains=query) | Q(slug__icontains=query)
        )
    runbooks = list(rows.order_by("title"))
    if kind:
        runbooks = [r for r in runbooks if kind in (r.applies_to.get("kinds") or [])]
    return runbooks
