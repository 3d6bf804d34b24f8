from django.apps import AppConfig


class SloConfig(AppConfig):
    """Batch SLOs counted in runs: deadline, freshness, success ratio, duration."""

    name = "batchwatch.slo"
    label = "slo"
    verbose_name = "SLOs"

    def ready(self) -> None:
        from batchwatch.core.hooks import after_runs_recorded
        from batchwatch.slo import periodic  # noqa: F401 - registers the evaluation
        from batchwatch.slo.services import slo_evaluate_after_runs

        # Ingest records runs without knowing of SLOs: it calls this hook with them.
        after_runs_recorded.register(slo_evaluate_after_runs)
