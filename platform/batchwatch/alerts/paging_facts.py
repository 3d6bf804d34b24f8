"""An incident's facts for the paging transports of notify (Teams cards, PagerDuty events,
push, SMS and calls), registered with ``notify.transports.facts`` at start-up: notify sits
below alerts and does not read incidents itself."""

from __future__ import annotations

from batchwatch.alerts.models import Incident, IncidentAlert
from batchwatch.core.links import absolute_url, trusted_url
from batchwatch.notify.transports.facts import IncidentFacts

# The alerts whose jobs and links a page shows (an incident of a storm may group thousands).
ALERTS_READ = 20


def incident_facts(incident_id: int) -> IncidentFacts | None:
    incident = Incident.objects.select_related("team").filter(pk=incident_id).first()
    if incident is None:
        return None
    grouped = [
        m.alert
        for m in IncidentAlert.objects.filter(incident_id=incident_id, attached_reason="")
        .select_related("alert__job", "alert__signal")
        .order_by("added_at", "id")[:ALERTS_READ]
    ]
    jobs: list[str] = []
    links: dict[str, str] = {}
    for alert in grouped:
        job = alert.labels.get("job") or (alert.job.key if alert.job else "")
        if job and job not in jobs:
            jobs.append(str(job))
        for name in ("runbook", "run", "dashboard"):
            # A sender's annotation is a link only to Batchwatch, Grafana or the hosts the
            # operator lists (BATCHWATCH_LINK_HOSTS), as on Slack's buttons.
            url = trusted_url(alert.annotations.get(f"{name}_url", ""))
            if url and name not in links:
                links[name] = url
        if "job" not in links and alert.job_id:
            links["job"] = absolute_url("web:job", alert.job_id)
        if "run" not in links and alert.signal is not None and alert.signal.run_id:
            links["run"] = absolute_url("web:run", alert.signal.run_id)
    links.setdefault("runbook", absolute_url("web:runbook-for", query={"incident": incident.pk}))
    return IncidentFacts(
        number=incident.pk,
        title=incident.title,
        state=incident.state,
        urgency=incident.urgency,
        severity=incident.severity,
        team=incident.team.name if incident.team else "",
        url=absolute_url("web:incident", incident.pk),
        jobs=tuple(jobs),
        links=links,
    )
