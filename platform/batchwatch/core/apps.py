from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Cross-cutting infrastructure: health checks, the periodic-work registry and scheduler."""

    name = "batchwatch.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self) -> None:
        from batchwatch.core import checks, schema  # noqa: F401 - registers checks, OpenAPI extensions
