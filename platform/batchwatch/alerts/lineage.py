"""Lineage-aware inhibition: a downstream job is late because its upstream failed.

While an upstream job (any ancestor, through declared or observed edges) has a firing alert
in an open incident, or its latest run failed or is late, the late/missed alerts of its
downstream jobs do not page their owners: they attach to the upstream incident (visible
there) and the downstream team gets a non-paging notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from batchwatch.alerts.models import Alert, Incident, IncidentAlert
from batchwatch.catalog.models import Job, JobDependency
from batchwatch.runs.models import Run, RunState

# What "late" looks like: our signal kinds, and the alert names of our generated rules.
LATE_KINDS = {"late_start", "missed", "predicted_miss"}
LATE_ALERTNAMES = {"BatchJobLate", "BatchJobMissed", "BatchJobLateStart", "BatchPredictedMiss"}
MAX_DEPTH = 6
LATE_LOOKBACK = timedelta(days=1)


def is_lateness(labels: dict[str, str]) -> bool:
    return labels.get("kind") in LATE_KINDS or labels.get("alertname") in LATE_ALERTNAMES


def jobs_for_labels(label_sets: list[dict[str, str]]) -> dict[str, Job]:
    """Jobs named by alerts' ``job`` labels: by catalog key, else by a unique job name."""
    values = {labels.get("job") for labels in label_sets} - {None, ""}
    if not values:
        return {}
    found = {
        job.key: job for job in Job.objects.filter(key__in=values).select_related("owner_team")
    }
    by_name: dict[str, list[Job]] = {}
    for job in Job.objects.filter(name__in=values - set(found)).select_related("owner_team"):
        by_name.setdefault(job.name, []).append(job)
    found.update({name: jobs[0] for name, jobs in by_name.items() if len(jobs) == 1})
    return found


@dataclass(frozen=True)
class Blocking:
    reason: str
    upstream: Job
    incident: Incident | None


class UpstreamState:
    """Answers "is this alert blocked by an unhealthy upstream?" for one batch of alerts."""

    def __init__(self, now: datetime):
        self.now = now
        self._parents: dict[int, set[int]] | None = None

    def _ancestors(self, job_id: int) -> list[int]:
        if self._parents is None:
            self._parents = {}
            for up, down in JobDependency.objects.values_list("upstream_id", "downstream_id"):
                self._parents.setdefault(down, set()).add(up)
        seen: list[int] = []
        frontier = {job_id}
        for _ in range(MAX_DEPTH):
            frontier = (
                {p for j in frontier for p in self._parents.get(j, ())} - set(seen) - {job_id}
            )
            if not frontier:
                break
            seen.extend(sorted(frontier))
        return seen

    def blocking(self, alert) -> Blocking | None:
        if alert.job_id is None or not is_lateness(alert.labels):
            return None
        ancestors = self._ancestors(alert.job_id)
        if not ancestors:
            return None
        member = (
            IncidentAlert.objects.filter(
                alert__job_id__in=ancestors,
                alert__status=Alert.Status.FIRING,
                incident__state__in=[Incident.State.TRIGGERED, Incident.State.ACKNOWLEDGED],
                attached_reason="",
            )
            .select_related("incident", "alert__job")
            .order_by("-incident__created_at")
            .first()
        )
        # The filter on alert__job_id means a member's alert always has its job.
        if member is not None and (upstream := member.alert.job) is not None:
            what = member.alert.labels.get("kind") or member.alert.labels.get("alertname", "alert")
            return Blocking(f"upstream {upstream.key} is {what}", upstream, member.incident)
        bad = (
            Run.objects.filter(job_id__in=ancestors, expected_at__gte=self.now - LATE_LOOKBACK)
            .filter(state__in=[RunState.FAILED, RunState.MISSED])
            .select_related("job")
            .order_by("-expected_at")
            .first()
        )
        if bad is None:
            bad = (
                Run.objects.filter(
                    job_id__in=ancestors,
                    late_start=True,
                    started_at__isnull=True,
                    state=RunState.SCHEDULED,
                    expected_at__gte=self.now - LATE_LOOKBACK,
                )
                .select_related("job")
                .first()
            )
        if bad is None:
            return None
        # Only if nothing newer succeeded since: a healed upstream blocks nobody.
        healed = Run.objects.filter(
            job_id=bad.job_id, state=RunState.SUCCEEDED, expected_at__gt=bad.expected_at
        ).exists()
        if healed:
            return None
        what = "late" if bad.state == RunState.SCHEDULED else bad.state
        return Blocking(f"upstream {bad.job.key} is {what}", bad.job, None)
