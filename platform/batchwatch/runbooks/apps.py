from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    """Runbooks as code: runbooks/*.md, selected for every alert, rendered on the web."""

    name = "batchwatch.runbooks"
    label = "runbooks"
    verbose_name = "Runbooks"
