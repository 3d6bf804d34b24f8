from django.apps import AppConfig


class WebConfig(AppConfig):
    """Server-rendered pages for on-call work."""

    name = "batchwatch.web"
    label = "web"
    verbose_name = "Web"
