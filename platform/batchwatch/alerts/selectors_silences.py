"""What a silence would hold now: the preview shown while a silence is being written.

The preview matches with the code the silencer uses (``matchers.matches_all`` over an alert's
labels, as ``AlertingConfig.suppressed_by`` does), on the matchers that would be stored (a
member's confined by ``permissions.confine_matchers`` first), so what it shows is what the
silence does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from batchwatch.alerts.matchers import Matcher, matches_all, parse_matchers
from batchwatch.alerts.models import Alert, Incident, IncidentAlert
from batchwatch.catalog.models import Membership
from batchwatch.catalog.permissions import is_admin

SAMPLE_SIZE = 5


@dataclass(frozen=True)
class PreviewAlert:
    id: int
    name: str
    summary: str
    labels: dict[str, str]
    suppressed_reason: str


@dataclass(frozen=True)
class PreviewIncident:
    id: int
    title: str
    state: str
    team: str
    # Every firing alert of the incident matches: the silence quiets it entirely.
    all_alerts_match: bool


@dataclass(frozen=True)
class SilencePreview:
    matchers: list[str]
    alert_count: int
    incident_count: int
    alerts: list[PreviewAlert] = field(default_factory=list)
    incidents: list[PreviewIncident] = field(default_factory=list)


def _candidates(matchers: Sequence[Matcher]) -> list[Alert]:
    """Firing alerts, narrowed in the database by the equality matchers (a label equal to a
    non-empty value must be present), then matched exactly in Python."""
    query = Alert.objects.filter(status=Alert.Status.FIRING)
    for n, matcher in enumerate(matchers):
        if matcher.op == "=" and matcher.value:
            # A key transform, not ``labels__<name>``: a label named "contains" or "a__b"
            # must stay a key, not become a lookup; as text, compared as text.
            alias = f"_label_{n}"
            text = Cast(KeyTextTransform(matcher.name, "labels"), TextField())
            query = query.alias(**{alias: text}).filter(**{alias: matcher.value})
    rows = query.only("id", "labels", "summary", "suppressed_reason").order_by(
        "-last_received_at", "-id"
    )
    return [alert for alert in rows if matches_all(tuple(matchers), alert.labels)]


def preview_team_ids(user) -> set[int] | None:
    """The teams whose incidents a preview names to ``user``: all for admins (None), else
    their own."""
    if is_admin(user):
        return None
    return set(Membership.objects.filter(user=user).values_list("team_id", flat=True))


def silence_preview(
    matchers: list[str],
    *,
    visible_team_ids: set[int] | None = None,
    sample_size: int = SAMPLE_SIZE,
) -> SilencePreview:
    """The firing alerts ``matchers`` match now and the open incidents holding them, with a
    few of each (newest first). ``matchers`` are the ones a silence would store; raises
    ``ValueError`` if one does not parse. Three queries whatever the number of alerts.

    Incidents of teams outside ``visible_team_ids`` (None: all) are counted, since the
    silence holds their alerts, but not named (their pages are their team's)."""
    parsed = parse_matchers(matchers)
    if not parsed:  # a silence without matchers is refused: it would match nothing here
        return SilencePreview(matchers=[], alert_count=0, incident_count=0)
    matched = _candidates(parsed)
    matched_ids = {alert.pk for alert in matched}
    # Open incidents are few: read their firing alerts and intersect, rather than sending a
    # storm's worth of ids in an IN list.
    firing_of: dict[int, set[int]] = {}
    for incident_id, alert_id in IncidentAlert.objects.filter(
        incident__state__in=[Incident.State.TRIGGERED, Incident.State.ACKNOWLEDGED],
        alert__status=Alert.Status.FIRING,
    ).values_list("incident_id", "alert_id"):
        firing_of.setdefault(incident_id, set()).add(alert_id)
    hit = {pk: alerts for pk, alerts in firing_of.items() if alerts & matched_ids}
    incidents = list(
        Incident.objects.filter(pk__in=hit).select_related("team").order_by("-created_at", "-id")
    )
    return SilencePreview(
        matchers=[str(m) for m in parsed],
        alert_count=len(matched),
        incident_count=len(incidents),
        alerts=[
            PreviewAlert(a.pk, a.name, a.summary, dict(a.labels), a.suppressed_reason)
            for a in matched[:sample_size]
        ],
        incidents=[
            PreviewIncident(
                i.pk,
                i.title,
                i.state,
                i.team.slug if i.team else "",
                all_alerts_match=hit[i.pk] <= matched_ids,
            )
            for i in incidents
            if visible_team_ids is None or i.team_id in visible_team_ids
        ][:sample_size],
    )


# --- "Silence this": the matchers a silence of an incident, an alert or a job starts from --


def matcher_text(name: str, op: str, value: str) -> str:
    """A matcher as text that ``parse_matcher`` reads back as exactly (name, op, value)."""
    quoted = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}{op}"{quoted}"'


def _equal(labels: dict[str, str]) -> list[str]:
    return [matcher_text(name, "=", value) for name, value in sorted(labels.items())]


def alert_silence_matchers(alert: Alert) -> list[str]:
    """An alert's labels (its identity), each as an equality matcher: this alert only."""
    return _equal(dict(alert.labels))


def incident_silence_matchers(incident: Incident) -> list[str]:
    """The incident's group labels: the alerts that group into it. An incident grouped on
    nothing (one group for everything) gets the labels all its alerts share instead."""
    if incident.group_labels:
        return _equal(dict(incident.group_labels))
    common: dict[str, str] | None = None
    for labels in Alert.objects.filter(memberships__incident=incident).values_list(
        "labels", flat=True
    ):
        common = (
            dict(labels)
            if common is None
            else {k: v for k, v in common.items() if labels.get(k) == v}
        )
    return _equal(common or {})


def job_silence_matchers(job_key: str) -> list[str]:
    """A job's alerts: those labelled with its key (as its signals are, and integrations that
    name the job)."""
    return _equal({"job": job_key})
