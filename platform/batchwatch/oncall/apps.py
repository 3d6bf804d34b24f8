from django.apps import AppConfig


class OncallConfig(AppConfig):
    """Triage rotations (who is on call when) and escalation policies (who is paged next)."""

    name = "batchwatch.oncall"
    label = "oncall"
    verbose_name = "On-call"

    def ready(self) -> None:
        from batchwatch.oncall import periodic  # noqa: F401 - registers handoff notices
