"""The catalog: teams, their members, jobs, the edges between jobs, and ownership rules."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from batchwatch.catalog.validators import (
    validate_cron,
    validate_labels,
    validate_no_whitespace,
    validate_slack_channel,
    validate_timezone,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Team(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    slack_channel = models.CharField(
        max_length=81,
        blank=True,
        validators=[validate_slack_channel],
        help_text="Where this team's alerts and notices go: '#channel' or a channel ID.",
    )

    class ThreadUpdates(models.TextChoices):
        OFF = "off", "Off (the message is updated, no thread)"
        IMPORTANT = "important", "Important changes (ack, resolve, escalation, reassign)"
        ALL = "all", "Every timeline entry"

    slack_thread_updates = models.CharField(
        max_length=10,
        choices=ThreadUpdates.choices,
        default=ThreadUpdates.IMPORTANT,
        help_text="Which incident timeline entries go to the Slack message's thread.",
    )
    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="teams", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"  # manages the team itself: settings and members
        MEMBER = "member", "Member"  # manages the team's jobs

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user")
        ]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Engine(models.TextChoices):
    SPARK = "spark", "Spark"
    FLINK = "flink", "Flink"
    AIRFLOW = "airflow", "Airflow"
    FLYTE = "flyte", "Flyte"
    PREFECT = "prefect", "Prefect"
    TEMPORAL = "temporal", "Temporal"
    LUIGI = "luigi", "Luigi"
    DBT = "dbt", "dbt"
    CI = "ci", "CI"
    OTHER = "other", "Other"


class Tier(models.IntegerChoices):
    CRITICAL = 1, "Tier 1 — critical (money moves or regulators wait)"
    IMPORTANT = 2, "Tier 2 — important"
    STANDARD = 3, "Tier 3 — standard"
    BEST_EFFORT = 4, "Tier 4 — best effort"


class Registration(models.TextChoices):
    DECLARED = "declared", "Declared"  # created by a person (admin, API, YAML)
    OBSERVED = "observed", "Observed"  # registered itself through telemetry


class Calendar(models.Model):
    """Days on which scheduled jobs are not expected to run: weekends, bank holidays."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    skip_weekdays = models.JSONField(
        default=list,
        blank=True,
        help_text="ISO weekdays not expected (1 = Monday ... 7 = Sunday), e.g. [6, 7].",
    )
    skip_dates = models.JSONField(
        default=list, blank=True, help_text='Dates not expected, e.g. ["2026-12-25"].'
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        days = self.skip_weekdays or []
        if not isinstance(days, list) or any(d not in range(1, 8) for d in days):
            raise ValidationError({"skip_weekdays": "Use ISO weekday numbers 1 (Mon) to 7 (Sun)."})
        dates = self.skip_dates or []
        if not isinstance(dates, list):
            raise ValidationError({"skip_dates": "Use a list of YYYY-MM-DD dates."})
        for value in dates:
            try:
                date.fromisoformat(str(value))
            except ValueError:
                raise ValidationError(
                    {"skip_dates": f"{value!r} is not a YYYY-MM-DD date."}
                ) from None

    def skips(self, day: date) -> bool:
        return day.isoweekday() in (self.skip_weekdays or []) or day.isoformat() in (
            self.skip_dates or []
        )


def job_key(engine: str, namespace: str, name: str) -> str:
    """The stable key of a job: ``<engine>:<namespace>/<name>``."""
    return f"{engine}:{namespace}/{name}"


class Job(models.Model):
    key = models.CharField(
        max_length=520, unique=True, editable=False, help_text="<engine>:<namespace>/<name>"
    )
    engine = models.CharField(max_length=16, choices=Engine.choices)
    namespace = models.CharField(
        max_length=200,
        validators=[validate_no_whitespace],
        help_text="Where the job lives: an Airflow deployment, a Spark cluster, a dbt project.",
    )
    name = models.CharField(max_length=300, validators=[validate_no_whitespace])
    description = models.TextField(blank=True)
    owner_team = models.ForeignKey(
        Team,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="jobs",
        help_text="Empty when no ownership rule matched a job that registered itself.",
    )
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.STANDARD)
    schedule_cron = models.CharField(
        "schedule (cron)",
        max_length=120,
        blank=True,
        validators=[validate_cron],
        help_text="Five-field cron, evaluated in the schedule's time zone. Empty: on demand.",
    )
    schedule_timezone = models.CharField(
        "schedule time zone", max_length=64, default="UTC", validators=[validate_timezone]
    )
    calendar = models.ForeignKey(
        Calendar,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="jobs",
        help_text="Days the schedule skips (holidays, weekends), judged in the schedule's zone.",
    )
    start_grace = models.DurationField(
        default=timedelta(minutes=15),
        help_text="A run not started this long after its scheduled time is judged a late start.",
    )
    miss_grace = models.DurationField(
        default=timedelta(hours=1),
        help_text="A run not started this long after its scheduled time is judged missed.",
    )
    max_runtime = models.DurationField(
        null=True, blank=True, help_text="A run still running after this long has overrun."
    )
    min_runtime = models.DurationField(
        null=True,
        blank=True,
        help_text="A run finishing faster than this is suspicious (empty input?).",
    )
    labels = models.JSONField(default=dict, blank=True, validators=[validate_labels])
    runbook = models.CharField(
        max_length=80,
        blank=True,
        help_text="Runbook id for this job's alerts, overriding the automatic choice.",
    )
    repo_url = models.URLField("repository", max_length=500, blank=True)
    docs_url = models.URLField("documentation", max_length=500, blank=True)
    upstream: models.ManyToManyField[Job, JobDependency] = models.ManyToManyField(
        "self",
        through="JobDependency",
        through_fields=("downstream", "upstream"),
        symmetrical=False,
        related_name="downstream",
        blank=True,
    )
    registration = models.CharField(
        max_length=16, choices=Registration.choices, default=Registration.DECLARED
    )
    is_active = models.BooleanField("active", default=True)
    last_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="When telemetry last mentioned this job."
    )
    # Gauges of the job itself rather than of one run ({"kafka_lag": {"at", "value", ...}}),
    # written by catalog.services.job_facts_record: per fact, the latest report wins.
    facts = models.JSONField(
        default=dict, blank=True, help_text="What telemetry last said of the job itself."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["engine", "namespace", "name"], name="job_unique_engine_namespace_name"
            ),
        ]
        indexes = [models.Index(fields=["owner_team", "engine"], name="job_team_engine_idx")]

    def __str__(self) -> str:
        return self.key

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The key is derived, never edited, so it cannot disagree with its parts.
        self.key = job_key(self.engine, self.namespace, self.name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"engine", "namespace", "name"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "key"}
        super().save(*args, **kwargs)

    @property
    def declared_upstream(self) -> list[Job]:
        """Upstream jobs a person declared; uses ``upstream_edges__upstream`` if prefetched."""
        edges = self.upstream_edges.all()
        return sorted(
            (e.upstream for e in edges if e.source == JobDependency.Source.DECLARED),
            key=lambda job: job.key,
        )

    def clean(self) -> None:
        if self.schedule_cron and not self.schedule_timezone:
            raise ValidationError({"schedule_timezone": "A scheduled job needs a time zone."})
        errors = {}
        for field in ("start_grace", "miss_grace", "max_runtime", "min_runtime"):
            value = getattr(self, field)
            if value is not None and value <= timedelta(0):
                errors[field] = "Must be a positive duration."
        if not errors and self.miss_grace < self.start_grace:
            errors["miss_grace"] = (
                "A run cannot be missed before it is late: use at least the start grace."
            )
        if (
            not errors
            and self.min_runtime
            and self.max_runtime
            and self.min_runtime >= self.max_runtime
        ):
            errors["min_runtime"] = "The minimum runtime must be below the maximum runtime."
        if errors:
            raise ValidationError(errors)


class JobDependency(models.Model):
    """An edge upstream → downstream, with where we learned it."""

    class Source(models.TextChoices):
        DECLARED = "declared", "Declared"  # in the catalog, by a person
        OBSERVED = "observed", "Observed"  # from lineage or parent links in telemetry

    upstream = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="downstream_edges")
    downstream = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="upstream_edges")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.DECLARED)
    created_at = models.DateTimeField(auto_now_add=True)
    last_observed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "job dependencies"
        constraints = [
            models.UniqueConstraint(
                fields=["upstream", "downstream", "source"], name="jobdependency_unique_edge"
            ),
            models.CheckConstraint(
                condition=~Q(upstream=F("downstream")), name="jobdependency_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.upstream} → {self.downstream} ({self.source})"


class JobDataset(models.Model):
    """A dataset a job was seen reading or writing (OpenLineage inputs and outputs).

    Two jobs where one writes what the other reads get an observed edge between them.
    """

    class Direction(models.TextChoices):
        INPUT = "input", "Reads"
        OUTPUT = "output", "Writes"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="datasets")
    namespace = models.CharField(max_length=300)
    name = models.CharField(max_length=500)
    direction = models.CharField(max_length=8, choices=Direction.choices)
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "namespace", "name", "direction"], name="jobdataset_unique"
            )
        ]
        indexes = [
            models.Index(fields=["namespace", "name", "direction"], name="jobdataset_dataset_idx")
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.direction} {self.namespace}/{self.name}"


class OwnershipRule(models.Model):
    """Gives an owner to jobs that register themselves through telemetry.

    Rules are tried by ascending priority; the first whose every non-empty condition matches
    wins. Patterns are shell globs (``risk-*``), matched case-sensitively.
    """

    priority = models.PositiveIntegerField(default=100, help_text="Lower is tried first.")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="ownership_rules")
    engine = models.CharField(max_length=16, choices=Engine.choices, blank=True)
    namespace_pattern = models.CharField(max_length=200, blank=True, help_text="e.g. risk-*")
    name_pattern = models.CharField(max_length=300, blank=True, help_text="e.g. ledger_*")
    label_selector = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_labels],
        help_text='Labels that must all match (values may be globs), e.g. {"domain": "risk"}.',
    )
    description = models.CharField(max_length=300, blank=True)
    is_active = models.BooleanField("active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return f"#{self.priority} → {self.team}"

    def clean(self) -> None:
        if not (self.engine or self.namespace_pattern or self.name_pattern or self.label_selector):
            raise ValidationError(
                "A rule needs at least one condition (engine, namespace, name or labels); "
                "a catch-all owner would hide unowned jobs."
            )
