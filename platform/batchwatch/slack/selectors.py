"""Reads for Slack: the facts an incident message shows, links, and messages to refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median

from django.db.models import Exists, F, Max, OuterRef, Q

from batchwatch.alerts.models import Incident, IncidentAlert, TimelineEntry
from batchwatch.alerts.selectors import inhibited_count
from batchwatch.core.links import absolute_url, slack_escape, trusted_url
from batchwatch.notify.models import Notification
from batchwatch.oncall.selectors import oncall_for_teams
from batchwatch.runs.models import Run, RunState
from batchwatch.slack.models import SlackMessage, SlackUserLink

# Timeline kinds worth a thread reply in the "important" mode.
IMPORTANT_KINDS = frozenset(
    {
        TimelineEntry.Kind.ACKNOWLEDGED,
        TimelineEntry.Kind.RESOLVED,
        TimelineEntry.Kind.ESCALATED,
        TimelineEntry.Kind.ESCALATE_REQUESTED,
        TimelineEntry.Kind.REASSIGNED,
        TimelineEntry.Kind.SNOOZED,
        TimelineEntry.Kind.RETRIGGERED,
        TimelineEntry.Kind.ALERT_ATTACHED,
    }
)
LINK_NAMES = ("runbook", "run", "trace", "dashboard", "job")


@dataclass(frozen=True)
class Person:
    name: str
    slack_user_id: str = ""

    @property
    def mention(self) -> str:
        # A Slack id is ours (from a link the user made); a username is text, escaped.
        return f"<@{self.slack_user_id}>" if self.slack_user_id else slack_escape(self.name)


@dataclass
class IncidentCard:
    """Everything one incident message shows, read in a fixed number of queries."""

    id: int
    title: str
    url: str
    state: str
    severity: str
    urgency: str
    team: str
    created_at: datetime
    jobs: list[str] = field(default_factory=list)
    assignee: Person | None = None
    acknowledged_by: Person | None = None
    on_call: list[Person] = field(default_factory=list)
    snoozed_until: datetime | None = None
    grouped: int = 0
    attached: int = 0
    inhibited: int = 0
    run_started_at: datetime | None = None
    run_duration_seconds: float | None = None
    normal_duration_seconds: float | None = None
    run_running: bool = False
    failure_reason: str = ""
    links: dict[str, str] = field(default_factory=dict)
    broken_channels: list[str] = field(default_factory=list)


def _person(user, links: dict[int, str]) -> Person | None:
    if user is None:
        return None
    return Person(user.get_username(), links.get(user.pk, ""))


def _normal_duration(job_id: int) -> float | None:
    """The median duration of the job's last 20 successful runs."""
    durations = list(
        Run.objects.filter(job_id=job_id, state=RunState.SUCCEEDED, duration_seconds__isnull=False)
        .order_by("-started_at")
        .values_list("duration_seconds", flat=True)[:20]
    )
    return median(durations) if durations else None


def incident_card(incident_id: int, *, now: datetime) -> IncidentCard:
    incident = Incident.objects.select_related("team", "assignee", "acknowledged_by").get(
        pk=incident_id
    )
    members = list(
        IncidentAlert.objects.filter(incident=incident)
        .select_related("alert__job", "alert__signal__run")
        .order_by("added_at", "id")
    )
    grouped = [m.alert for m in members if not m.attached_reason]
    on_call = []
    if incident.team_id:
        on_call = [
            p for _, p in oncall_for_teams([incident.team_id], now).get(incident.team_id, [])
        ]
    people = [incident.assignee, incident.acknowledged_by, *on_call]
    slack_ids = dict(
        SlackUserLink.objects.filter(user_id__in=[p.pk for p in people if p]).values_list(
            "user_id", "slack_user_id"
        )
    )
    card = IncidentCard(
        id=incident.pk,
        title=incident.title,
        url=absolute_url("web:incident", incident.pk),
        state=incident.state,
        severity=incident.severity or "none",
        urgency=incident.urgency,
        team=incident.team.name if incident.team else "no team",
        created_at=incident.created_at,
        assignee=_person(incident.assignee, slack_ids),
        acknowledged_by=_person(incident.acknowledged_by, slack_ids),
        on_call=[p for p in (_person(u, slack_ids) for u in on_call) if p],
        snoozed_until=incident.snoozed_until,
        grouped=len(grouped),
        attached=len(members) - len(grouped),
        inhibited=inhibited_count(incident, now=now),
    )
    jobs = []
    for alert in grouped:
        job = alert.labels.get("job") or (alert.job.key if alert.job else "")
        if job and job not in jobs:
            jobs.append(job)
        for name in LINK_NAMES:
            url = alert.annotations.get(f"{name}_url", "")
            if name == "runbook" and url.startswith(absolute_url("web:runbooks")):
                continue  # ours: the incident's own runbook link (below) is more precise
            # A button looks like Batchwatch's own: only to us, Grafana or BATCHWATCH_LINK_HOSTS.
            url = trusted_url(url)
            if url and name not in card.links:
                card.links[name] = url
        if "job" not in card.links and alert.job_id:
            card.links["job"] = absolute_url("web:job", alert.job_id)
    card.jobs = jobs
    run = next((a.signal.run for a in grouped if a.signal_id and a.signal.run_id), None)
    if run is not None:
        card.run_started_at = run.started_at
        card.run_running = run.state == RunState.RUNNING
        if run.duration_seconds is not None:
            card.run_duration_seconds = run.duration_seconds
        elif run.started_at and card.run_running:
            card.run_duration_seconds = (now - run.started_at).total_seconds()
        card.normal_duration_seconds = _normal_duration(run.job_id)
        card.failure_reason = run.failure_reason
    card.broken_channels = list(
        Notification.objects.filter(incident=incident, channel__is_broken=True)
        .values_list("channel__name", flat=True)
        .distinct()
    )
    return card


def link_for_slack_user(slack_user_id: str) -> SlackUserLink | None:
    return SlackUserLink.objects.select_related("user").filter(slack_user_id=slack_user_id).first()


# Messages of incidents resolved longer ago than this are left alone (the sweep stays small).
SYNC_AFTER_RESOLVED = timedelta(days=1)


def messages_to_sync(*, now: datetime) -> list[tuple[SlackMessage, int]]:
    """Messages whose incident has timeline entries they do not reflect yet (and no refresh
    already waiting in the outbox), with the newest entry id."""
    waiting = Notification.objects.filter(
        incident_id=OuterRef("incident_id"),
        purpose=Notification.Purpose.UPDATE,
        transport=Notification.Transport.SLACK,
        address=OuterRef("address"),
        state__in=[Notification.State.PENDING, Notification.State.SENDING],
    )
    rows = (
        SlackMessage.objects.filter(
            Q(incident__resolved_at__isnull=True)
            | Q(incident__resolved_at__gte=now - SYNC_AFTER_RESOLVED),
            incident__timeline__id__gt=F("last_entry_id"),
        )
        .annotate(newest=Max("incident__timeline__id"), waiting=Exists(waiting))
        .filter(waiting=False)
        .select_related("channel")
    )
    return [(message, message.newest) for message in rows]


def thread_entries(message: SlackMessage, mode: str) -> list[TimelineEntry]:
    """The timeline entries the message's thread has not had yet, per the team's mode."""
    if mode == "off":
        return []
    entries = TimelineEntry.objects.filter(
        incident_id=message.incident_id, id__gt=message.last_entry_id
    )
    if mode != "all":
        entries = entries.filter(kind__in=IMPORTANT_KINDS)
    # A note written as a reply in this thread is already there: never echo it back.
    return [
        entry
        for entry in entries.order_by("id")
        if not (
            entry.kind == TimelineEntry.Kind.NOTE and (entry.data or {}).get("source") == "slack"
        )
    ]
