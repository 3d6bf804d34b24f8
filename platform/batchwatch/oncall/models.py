"""Triage rotations and escalation policies.

A rotation has **layers** (a later layer overrides an earlier one wherever it has someone on
call), each with participants taking turns of a free-form length from a handoff instant in the
rotation's IANA zone, optionally restricted to daily or weekly windows. **Overrides** replace
whoever is on call for a period; **shift swaps** hand one person's shifts in a period to
another. ``oncall.selectors.oncall_at`` computes who is on call at an instant.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from batchwatch.catalog.models import Team
from batchwatch.catalog.validators import validate_timezone
from batchwatch.oncall.schedule import parse_restrictions


def _feed_token() -> str:
    return secrets.token_urlsafe(24)


class Rotation(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="rotations")
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="Handoff times and restrictions are read in this IANA zone.",
    )
    description = models.TextField(blank=True)
    # Calendar apps fetch iCal feeds without our credentials: the feed URL carries this secret.
    feed_token = models.CharField(max_length=64, default=_feed_token, editable=False)
    handoff_notices = models.BooleanField(
        default=True, help_text="Tell the incoming and outgoing person at each handoff."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the layers or the zone last changed, or an override was taken away: a change that
    # may move any shift, so every event of the iCal feeds has at least this SEQUENCE
    # (``oncall.feeds``). A new override or swap counts only for the shifts it touches.
    schedule_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["team__name", "name"]

    def __str__(self) -> str:
        return self.name


class RotationLayer(models.Model):
    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="layers")
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Layers with a higher position override lower ones."
    )
    name = models.CharField(max_length=200, blank=True)
    start_date = models.DateField(help_text="The day of the first handoff.")
    handoff_time = models.TimeField(
        help_text="Wall-clock time of every handoff in the rotation's zone, across DST changes."
    )
    turn_length = models.DurationField(
        default=timedelta(days=7), help_text="Free-form: 12h, 1 day, 3 days, 1 week..."
    )
    # [{"kind": "daily", "start": "09:00", "end": "17:00"},
    #  {"kind": "weekly", "start_day": 0, "start": "09:00", "end_day": 4, "end": "17:00"}]
    restrictions = models.JSONField(default=list, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rotation", "position", "id"]

    def __str__(self) -> str:
        return f"{self.rotation}: {self.name or f'layer {self.position}'}"

    def clean(self) -> None:
        if self.turn_length is not None and self.turn_length < timedelta(minutes=15):
            raise ValidationError({"turn_length": "A turn lasts at least 15 minutes."})
        try:
            parse_restrictions(self.restrictions or [])
        except ValueError as exc:
            raise ValidationError({"restrictions": str(exc)}) from exc


class LayerParticipant(models.Model):
    layer = models.ForeignKey(RotationLayer, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["layer", "position", "id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.layer}"


class RotationOverride(models.Model):
    """One-off: ``user`` is on call instead of whoever the layers say, for the period."""

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rotation", "starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="override_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} on {self.rotation} {self.starts_at:%Y-%m-%d %H:%M}"


class ShiftSwap(models.Model):
    """``requester`` gives away their shifts within the period; ``taker`` takes them."""

    class State(models.TextChoices):
        OPEN = "open", "Open (looking for someone)"
        TAKEN = "taken", "Taken"
        CANCELLED = "cancelled", "Cancelled"

    rotation = models.ForeignKey(Rotation, on_delete=models.CASCADE, related_name="swaps")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    taker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)  # taken, cancelled: the feeds' SEQUENCE

    class Meta:
        ordering = ["rotation", "starts_at"]

    def __str__(self) -> str:
        return f"{self.requester} → {self.taker or '?'} {self.starts_at:%Y-%m-%d %H:%M}"


# The default severity -> urgency mapping of a policy: these are high, anything else low.
HIGH_URGENCY_SEVERITIES = ("critical", "error", "page", "high", "p1", "p2")
URGENCIES = ("high", "low")


def validate_urgency_mapping(value: object) -> None:
    """A policy's overrides of the default mapping: ``{"<severity>": "high"|"low"}``."""
    if not isinstance(value, dict):
        raise ValidationError('A mapping of severity to urgency, e.g. {"warning": "high"}.')
    for severity, urgency in value.items():
        if not isinstance(severity, str) or not severity.strip() or len(severity) > 20:
            raise ValidationError(f"{severity!r} is not a severity (1 to 20 characters).")
        if urgency not in URGENCIES:
            raise ValidationError(
                f"Severity {severity!r}: urgency is high or low, not {urgency!r}."
            )


class EscalationPolicy(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="escalation_policies")
    is_team_default = models.BooleanField(
        default=False, help_text="Used for the team's alerts when no route names a policy."
    )
    repeat = models.PositiveSmallIntegerField(
        default=0, help_text="How many more times to run the steps when nobody acknowledges."
    )
    ack_timeout = models.DurationField(
        null=True,
        blank=True,
        help_text="An acknowledged incident returns to triggered after this long, unresolved.",
    )
    urgency_by_severity = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_urgency_mapping],
        help_text='Overrides of the severity → urgency mapping, e.g. {"warning": "high"}. '
        "By default critical, error, page, high, p1 and p2 are high, anything else low.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team__name", "name"]
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name

    def urgency_mapping(self) -> dict[str, str]:
        """The whole severity → urgency mapping: the defaults with this policy's overrides."""
        mapping = dict.fromkeys(HIGH_URGENCY_SEVERITIES, "high")
        for severity, urgency in (self.urgency_by_severity or {}).items():
            mapping[str(severity).strip().lower()] = str(urgency)
        return mapping


class EscalationStep(models.Model):
    class Target(models.TextChoices):
        ROTATION = "rotation", "Who is on call in a rotation"
        NEXT_IN_ROTATION = "next_in_rotation", "The next person in a rotation"
        USER = "user", "A user"
        TEAM_CHANNEL = "team_channel", "A team's channels"

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    target = models.CharField(max_length=20, choices=Target.choices)
    rotation = models.ForeignKey(
        Rotation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    wait = models.DurationField(
        default=timedelta(minutes=5),
        help_text="Escalate to the next step after this long without an acknowledgement.",
    )

    class Meta:
        ordering = ["policy", "position", "id"]

    def __str__(self) -> str:
        return f"{self.policy} step {self.position + 1}: {self.get_target_display()}"

    def clean(self) -> None:
        needed_field: dict[str, str] = {
            self.Target.ROTATION: "rotation",
            self.Target.NEXT_IN_ROTATION: "rotation",
            self.Target.USER: "user",
            self.Target.TEAM_CHANNEL: "team",
        }
        needs = needed_field.get(self.target)
        if needs and getattr(self, f"{needs}_id") is None:
            raise ValidationError({needs: f"A '{self.target}' step needs a {needs}."})
        if self.wait is not None and self.wait < timedelta(0):
            raise ValidationError({"wait": "The wait cannot be negative."})
