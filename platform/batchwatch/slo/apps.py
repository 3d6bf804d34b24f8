from django.apps import AppConfig


class SloConfig(AppConfig):
    """Batch SLOs counted in runs: deadline, freshness, success ratio, duration."""

    name = "batchwatch.slo"
    label = "slo"
    verbose_name = "SLOs"

    def ready(self) -> None:
        from batchwatch.slo import periodic  # noqa: F401 - registers the evaluation
