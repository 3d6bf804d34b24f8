"""Alerts, incidents and the configuration that routes one into the other.

* An **Alert** is identified by its label set (or a dedup key) within its source; it fires and
  resolves as reports arrive.
* A **Route** tree (Alertmanager's semantics) decides which group an alert joins; a group is an
  **Incident** while open: at most one open incident per group key, enforced by the unique
  ``open_group_key``.
* **Silences**, **maintenance windows**, **inhibition rules**, mute/active **time intervals**
  and lineage suppress alerts; a suppressed alert is kept, with the reason, and reconsidered.
* Escalation steps, group flushes, acknowledgement timeouts and snoozes are **Timer** rows with
  a due time and a fencing token, claimed atomically by whichever process runs them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from batchwatch.catalog.models import Job, Team
from batchwatch.catalog.validators import validate_timezone
from batchwatch.core.fields import BulkJSONField, QueuedJSONField
from batchwatch.core.models import QueuedBatch
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import EscalationPolicy

TOKEN_PREFIX = "bwa_"  # noqa: S105 - a prefix that makes leaked tokens greppable


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Integration(models.Model):
    """An alert source with its own token (PagerDuty calls it the integration/routing key)."""

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager webhook"
        PAGERDUTY = "pagerduty", "PagerDuty Events API v2"
        WEBHOOK = "webhook", "Generic JSON webhook"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(max_length=12, editable=False)
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="integrations",
        help_text="Alerts from here get label team=<slug> unless they carry one.",
    )
    labels = models.JSONField(default=dict, blank=True, help_text="Added to every alert.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def source(self) -> str:
        return f"integration:{self.pk}"


class TimeInterval(models.Model):
    """Alertmanager's time_interval: a list of ``{times, weekdays, days_of_month, months,
    years, location}`` specs; the interval is on when any of them matches."""

    name = models.SlugField(max_length=100, unique=True)
    intervals = models.JSONField(default=list)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Route(models.Model):
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=200, blank=True)
    matchers = models.JSONField(default=list, blank=True, help_text='e.g. ["team=\\"ledger\\""]')
    continue_matching = models.BooleanField(
        default=False, help_text="Keep looking at the following siblings after a match."
    )
    # None: inherit from the parent (the root's defaults are Alertmanager's).
    group_by = models.JSONField(null=True, blank=True)
    group_wait = models.DurationField(null=True, blank=True)
    group_interval = models.DurationField(null=True, blank=True)
    repeat_interval = models.DurationField(null=True, blank=True)
    escalation_policy = models.ForeignKey(
        EscalationPolicy, on_delete=models.PROTECT, null=True, blank=True, related_name="routes"
    )
    channels = models.ManyToManyField(
        Channel,
        blank=True,
        related_name="routes",
        help_text="The receiver: group notifications (firing, resolved) go here.",
    )
    mute_time_intervals = models.ManyToManyField(TimeInterval, blank=True, related_name="+")
    active_time_intervals = models.ManyToManyField(TimeInterval, blank=True, related_name="+")
    # A team's own route (its owners change it, alerts.services.team_routes): stored without a
    # parent, tried before the configuration's routes for that team's alerts only. None: a
    # route of the configuration's tree, which config as code replaces.
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alert_routes",
        help_text="A team's own route, tried first for its alerts; empty: the configuration's.",
    )

    # Not fields: load_config sets them from the link tables, in bulk, for build_tree.
    channel_ids: list[int]
    mute_names: list[str]
    active_names: list[str]

    class Meta:
        ordering = ["parent_id", "position", "id"]

    def __str__(self) -> str:
        return self.name or (", ".join(self.matchers) if self.matchers else "root")

    def clean(self) -> None:
        if self.team_id is not None and self.parent_id is not None:
            raise ValidationError({"parent": "A team's route has no parent (it follows the root)."})


class InhibitRule(models.Model):
    name = models.CharField(max_length=200, blank=True)
    source_matchers = models.JSONField(default=list)
    target_matchers = models.JSONField(default=list)
    equal = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.name or f"inhibit {self.target_matchers} by {self.source_matchers}"


class Silence(models.Model):
    matchers = models.JSONField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    comment = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="silence_positive"
            )
        ]

    def __str__(self) -> str:
        return f"silence {self.pk}: {', '.join(self.matchers)}"

    def state_at(self, now: datetime) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"


class MaintenanceWindow(models.Model):
    """Alerts matching the selector create no incident during the window; scheduled ahead,
    one-off or recurring (a cron expression in an IANA zone gives each start)."""

    name = models.CharField(max_length=200)
    matchers = models.JSONField(help_text='By job, team or any label: ["team=\\"ledger\\""]')
    starts_at = models.DateTimeField(help_text="The first (or only) start.")
    duration = models.DurationField(default=timedelta(hours=1))
    recurrence = models.CharField(
        max_length=100, blank=True, help_text="Cron expression of later starts, e.g. '0 2 * * 6'."
    )
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    until = models.DateTimeField(null=True, blank=True, help_text="No recurrence after this.")
    comment = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    # "signals" for our own, "integration:<id>" for an integration's: dedup keys are per source.
    source = models.CharField(max_length=40)
    integration = models.ForeignKey(
        Integration, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    fingerprint = models.CharField(max_length=255)
    labels = BulkJSONField(default=dict)
    annotations = BulkJSONField(default=dict, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    severity = models.CharField(max_length=20, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    # Alertmanager's API semantics: a firing alert not refreshed by then resolves by itself.
    expires_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.URLField(max_length=2000, blank=True)
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    signal = models.ForeignKey(
        "runs.Signal", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Why it is not in an incident right now ("" when it is, or when it is resolved).
    suppressed_reason = models.CharField(max_length=500, blank=True)
    # Set when a person resolved it along with its incident while it still fired: its next
    # firing report opens a new incident (it no longer belongs to the resolved one).
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Firing, outside any open incident, and worth reconsidering (silence ends, upstream heals).
    needs_routing = models.BooleanField(default=False)
    first_received_at = models.DateTimeField()
    last_received_at = models.DateTimeField()
    received_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-last_received_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "fingerprint"], name="alert_unique_identity")
        ]
        indexes = [
            # The periodic reconsideration: "firing alerts that need routing".
            models.Index(
                fields=["needs_routing"],
                name="alert_needs_routing_idx",
                condition=Q(needs_routing=True),
            ),
            # Expiry: "firing alerts whose expires_at passed".
            models.Index(
                fields=["expires_at"], name="alert_expiry_idx", condition=Q(status="firing")
            ),
        ]

    def __str__(self) -> str:
        return self.summary or self.labels.get("alertname", self.fingerprint)

    @property
    def name(self) -> str:
        return self.labels.get("alertname") or self.labels.get("kind") or "alert"


class AlertIntake(QueuedBatch):
    """A batch of alert events accepted at the edge and not yet processed (queued intake).

    With ``BATCHWATCH_ALERT_INTAKE=queued`` a webhook request is answered once its events,
    parsed and validated, are committed here; the intake drain then processes batches in
    order as of their ``received_at`` (so group_wait counts from arrival, not processing).
    Alertmanager and PagerDuty accept events the same way. Processed rows are pruned after a
    day; a batch whose processing failed keeps its error for admin.
    """

    source = models.CharField(max_length=40)
    integration = models.ForeignKey(
        Integration, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The parsed events in our own stored form (``wire.event_record``), not a wire format.
    events = QueuedJSONField()

    class Meta(QueuedBatch.Meta):
        indexes = [
            # The drain: "batches not processed yet, oldest first".
            models.Index(
                fields=["id"], name="alert_intake_pending_idx", condition=Q(processed_at=None)
            ),
            models.Index(fields=["processed_at"], name="alert_intake_processed_idx"),
        ]

    def __str__(self) -> str:
        return f"{len(self.events)} events from {self.source} at {self.received_at:%H:%M:%S}"


class Incident(models.Model):
    class State(models.TextChoices):
        TRIGGERED = "triggered", "Triggered"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    class Urgency(models.TextChoices):
        HIGH = "high", "High (pages and escalates)"
        LOW = "low", "Low (notifies, does not escalate)"

    title = models.CharField(max_length=500)
    group_key = models.CharField(max_length=1000)
    # Set to the group key while the incident is open: one open incident per group.
    open_group_key = models.CharField(max_length=1000, null=True, blank=True, unique=True)
    group_labels = models.JSONField(default=dict)
    route = models.ForeignKey(
        Route, on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    route_path = models.CharField(max_length=500, blank=True)
    # The route's options at creation: config edits do not change a running incident.
    group_wait = models.DurationField(default=timedelta(seconds=30))
    group_interval = models.DurationField(default=timedelta(minutes=5))
    repeat_interval = models.DurationField(default=timedelta(hours=4))
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents"
    )
    state = models.CharField(max_length=14, choices=State.choices, default=State.TRIGGERED)
    urgency = models.CharField(max_length=4, choices=Urgency.choices, default=Urgency.HIGH)
    severity = models.CharField(max_length=20, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # True when a person assigned it (reassign): neither an acknowledgement by someone else
    # nor an escalation step takes the assignment away then. False when the assignee is
    # whoever was paged last or acknowledged.
    assigned_explicitly = models.BooleanField(default=False)
    # The escalation policy as it was at creation (steps, targets, waits, repeat, timeout).
    escalation_snapshot = models.JSONField(default=dict, blank=True)
    escalation_step = models.SmallIntegerField(default=-1)
    escalation_loop = models.SmallIntegerField(default=0)
    # Fencing token: bumped by every acknowledgement, resolution or restart, so a timer
    # written before it (a stale or duplicated step) does nothing when it fires.
    escalation_token = models.PositiveIntegerField(default=0)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # Alertmanager's notification log for the group.
    notified_fingerprints = models.JSONField(default=list, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    last_flush_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    alerts: models.ManyToManyField[Alert, IncidentAlert] = models.ManyToManyField(
        Alert, through="IncidentAlert", related_name="incidents"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "-created_at"], name="incident_state_idx"),
            models.Index(fields=["team", "state"], name="incident_team_idx"),
            # The lists, newest first (alerts.selectors.incidents_query): a page reads the
            # newest rows in order instead of sorting them all.
            models.Index(fields=["-created_at", "-id"], name="incident_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.RESOLVED


class IncidentAlert(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="memberships")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="memberships")
    added_at = models.DateTimeField()
    # Set when the alert was attached by lineage (its upstream's incident), not grouped.
    attached_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "alert"], name="incident_alert_unique")
        ]

    def __str__(self) -> str:
        return f"{self.alert} in {self.incident}"


class TimelineEntry(models.Model):
    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        ALERTS_GROUPED = "alerts_grouped", "Alerts grouped"
        ALERT_ATTACHED = "alert_attached", "Downstream alert attached"
        MUTED = "muted", "Notifications held (route muted)"
        GROUP_FIRING = "group_firing", "Group notification (firing)"
        GROUP_RESOLVED = "group_resolved", "Group notification (resolved)"
        NO_ESCALATION = "no_escalation", "No escalation policy"
        ESCALATED = "escalated", "Escalated"
        ESCALATE_REQUESTED = "escalate_requested", "Escalation requested"
        RETRIGGERED = "retriggered", "Retriggered"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        SNOOZED = "snoozed", "Snoozed"
        REASSIGNED = "reassigned", "Reassigned"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        URGENCY_CHANGED = "urgency_changed", "Urgency changed"
        NOTE = "note", "Note"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    kind = models.CharField(max_length=40, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, default="batchwatch")
    message = models.CharField(max_length=1000)
    data = BulkJSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "timeline entries"

    def __str__(self) -> str:
        return f"{self.at:%H:%M:%S} {self.message}"


class Timer(models.Model):
    """A durable timer. At most one pending timer of each kind per incident."""

    class Kind(models.TextChoices):
        FLUSH = "flush", "Group flush (notify the receiver)"
        ESCALATE = "escalate", "Escalation step"
        ACK_TIMEOUT = "ack_timeout", "Acknowledgement timeout"
        UNSNOOZE = "unsnooze", "Snooze ends"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        STALE = "stale", "Stale (fencing token did not match)"
        FAILED = "failed", "Failed (error logged)"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timers")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    due_at = models.DateTimeField()
    token = models.PositiveIntegerField(default=0)
    step = models.SmallIntegerField(default=0)
    loop = models.SmallIntegerField(default=0)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    executed_at = models.DateTimeField(null=True, blank=True)
    executed_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "kind"],
                condition=Q(state="pending"),
                name="timer_one_pending_per_kind",
            )
        ]
        indexes = [
            # The timer runner: "pending timers due now", oldest first.
            models.Index(fields=["due_at"], name="timer_due_idx", condition=Q(state="pending"))
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.incident_id} at {self.due_at:%Y-%m-%d %H:%M:%S}"


class ActionLink(models.Model):
    """A one-time link that acts on an incident as one person (acknowledge, resolve, snooze),
    sent in a page by e-mail, SMS or push. A bearer credential bound to its user, its incident
    and the incident's ``escalation_token`` when it was made: any acknowledgement, resolution,
    snooze or restart since then makes it stale. Only the secret's SHA-256 is stored; opening
    it shows a confirmation page, its POST acts once (``used_at`` set by a conditional UPDATE).
    """

    class Action(models.TextChoices):
        ACKNOWLEDGE = "acknowledge", "Acknowledge"
        RESOLVE = "resolve", "Resolve"
        SNOOZE = "snooze", "Snooze 1 hour"

    secret_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="action_links")
    action = models.CharField(max_length=12, choices=Action.choices)
    # How it reached its user (email, sms, push, voice, ...): the timeline says so when used.
    channel = models.CharField(max_length=12)
    escalation_token = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # Pruning: "links that expired before ...".
            models.Index(fields=["expires_at"], name="action_link_expiry_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.incident_id} for user {self.user_id} via {self.channel}"
