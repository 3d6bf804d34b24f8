from django.apps import AppConfig


class RunsConfig(AppConfig):
    """The ledger of runs, and the spans kept for each run's trace view."""

    name = "batchwatch.runs"
    label = "runs"
    verbose_name = "Runs"
