"""A run's states: the choices of ``Run.state``, apart from the models so that the rules that
converge a run (``runs.convergence``) read them without importing the ORM models."""

from __future__ import annotations

from django.db import models


class RunState(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    MISSED = "missed", "Missed"
