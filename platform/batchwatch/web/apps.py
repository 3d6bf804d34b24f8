from django.apps import AppConfig


class WebConfig(AppConfig):
    """Server-rendered pages for on-call work."""

    name = "batchwatch.web"
    label = "web"
    verbose_name = "Web"

    def ready(self):
        # Connects the audit of sign-in lockouts (django-axes' user_locked_out signal).
        from batchwatch.web import lockout  # noqa: F401
