"""SLO definitions and their evaluated state."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

from batchwatch.catalog.models import Job, Team
from batchwatch.catalog.validators import validate_labels, validate_timezone


class SLO(models.Model):
    """An objective for a job, or for every job a selector (team, labels) matches.

    Counted in runs: "99% of the daily runs of ledger_close over the last 28 runs succeed by
    06:00 America/New_York on the day after their logical date".
    """

    class Kind(models.TextChoices):
        DEADLINE = "deadline", "Deadline: the run for day D succeeds by a time on D + n"
        FRESHNESS = "freshness", "Freshness: successes are never further apart than a max age"
        SUCCESS_RATIO = "success_ratio", "Success ratio: finished runs that succeed"
        DURATION = "duration", "Duration: runs that take at most a threshold"

    class WindowUnit(models.TextChoices):
        RUNS = "runs", "Runs"
        DAYS = "days", "Days"

    class WindowType(models.TextChoices):
        ROLLING = "rolling", "Rolling"
        CALENDAR = "calendar", "Calendar month"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, null=True, blank=True, related_name="slos"
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="slos",
        help_text="With no job: applies to every job this team owns.",
    )
    label_selector = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_labels],
        help_text="With no job: jobs whose labels all match.",
    )
    objective = models.DecimalField(
        max_digits=6, decimal_places=3, help_text="Percent of runs that must be good, e.g. 99."
    )
    window_unit = models.CharField(
        max_length=8, choices=WindowUnit.choices, default=WindowUnit.RUNS
    )
    window_size = models.PositiveIntegerField(default=28)
    window_type = models.CharField(
        max_length=10, choices=WindowType.choices, default=WindowType.ROLLING
    )
    # deadline
    deadline_time = models.TimeField(null=True, blank=True)
    deadline_timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    deadline_day_offset = models.PositiveSmallIntegerField(
        default=1, help_text="Days after the run's logical date: 1 means 'on D+1'."
    )
    prediction_lead = models.DurationField(
        default=timedelta(hours=1),
        help_text="Warn this long before the deadline when the run is predicted to miss it.",
    )
    # freshness
    max_age = models.DurationField(null=True, blank=True)
    # duration
    duration_threshold = models.DurationField(null=True, blank=True)
    warning_budget_ratio = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.250"),
        help_text="Status is warning when less than this share of the budget remains.",
    )
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLO"
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.objective is not None and not Decimal(0) < Decimal(self.objective) < Decimal(100):
            errors["objective"] = "The objective is a percentage strictly between 0 and 100."
        if self.job_id is None and self.team_id is None and not self.label_selector:
            errors["job"] = "Attach the SLO to a job, or to a selector (a team and/or labels)."
        if self.job_id is not None and (self.team_id is not None or self.label_selector):
            errors["team"] = "An SLO has either a job or a selector, not both."
        if self.window_size < 1:
            errors["window_size"] = "The window holds at least one run or day."
        if (
            self.window_type == self.WindowType.CALENDAR
            and self.window_unit != self.WindowUnit.DAYS
        ):
            errors["window_type"] = "A calendar (monthly) window is counted in days."
        if self.kind == self.Kind.DEADLINE:
            if self.deadline_time is None:
                errors["deadline_time"] = "A deadline SLO needs the time runs must succeed by."
            if not self.deadline_timezone:
                errors["deadline_timezone"] = "A deadline SLO needs the deadline's time zone."
        if self.kind == self.Kind.FRESHNESS and not (self.max_age and self.max_age > timedelta(0)):
            errors["max_age"] = "A freshness SLO needs a positive maximum age."
        if self.kind == self.Kind.DURATION and not (
            self.duration_threshold and self.duration_threshold > timedelta(0)
        ):
            errors["duration_threshold"] = "A duration SLO needs a positive threshold."
        if not Decimal(0) <= Decimal(self.warning_budget_ratio) <= Decimal(1):
            errors["warning_budget_ratio"] = "Use a share between 0 and 1."
        if errors:
            raise ValidationError(errors)

    @property
    def objective_ratio(self) -> float:
        return float(self.objective) / 100


class SLOState(models.Model):
    """The SLO as last evaluated for one job."""

    class Status(models.TextChoices):
        OK = "ok", "OK"
        WARNING = "warning", "Warning"
        BREACHED = "breached", "Breached"
        NO_DATA = "no_data", "No data yet"

    slo = models.ForeignKey(SLO, on_delete=models.CASCADE, related_name="states")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="slo_states")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NO_DATA)
    good = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    sli = models.FloatField(null=True, blank=True)
    budget_total = models.FloatField(default=0)  # bad runs the objective allows in the window
    budget_remaining_ratio = models.FloatField(null=True, blank=True)
    burn_rates = models.JSONField(default=dict)
    # Per-run verdicts, oldest first, for the burn-down chart: [[iso time, good], ...].
    history = models.JSONField(default=list)
    evaluated_at = models.DateTimeField(null=True, blank=True)
    # Incremental passes: the wall-clock time this state was last brought up to date (runs
    # changed since then make it stale), and the evaluation instant at which time alone may
    # change it (a verdict leaving a days window, a deadline passing, freshness expiring).
    checked_at = models.DateTimeField(null=True, blank=True)
    next_change_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slo", "job"], name="slostate_unique")]

    def __str__(self) -> str:
        return f"{self.slo} / {self.job}: {self.status}"


class JobHealth(models.Model):
    """A job's health from its runs and the ledger (``runs.selectors_grid.base_health``), kept
    so the health grid orders and counts thousands of jobs worst first in SQL, reading the
    runs of only the jobs a page shows. Brought up to date by ``job_health_refresh`` (the
    grid's pages call it first) for the jobs whose runs were written since their last check
    or whose next occurrence came due; the SLOs' "at risk" is read live."""

    job = models.OneToOneField(
        Job, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    # Its index in runs.selectors_grid.HEALTH: ordering worst first is ordering by rank.
    rank = models.PositiveSmallIntegerField()
    # The wall-clock time of the last check (runs written since make it stale) and the next
    # occurrence the ledger expects (when it comes due, the occurrence due now changes).
    checked_at = models.DateTimeField(db_index=True)
    next_change_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"{self.job_id}: {self.rank}"
