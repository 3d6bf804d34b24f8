from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    """Runbooks as code: runbooks/*.md, selected for every alert, rendered on the web."""

    name = "batchwatch.runbooks"
    label = "runbooks"
    verbose_name = "Runbooks"

    def ready(self) -> None:
        from batchwatch.core import startup
        from batchwatch.runbooks.startup import sync_runbooks

        startup.register("runbooks", sync_runbooks)
