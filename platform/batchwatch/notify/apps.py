from django.apps import AppConfig


class NotifyConfig(AppConfig):
    """The notification outbox: rows written with the state change, delivered after commit."""

    name = "batchwatch.notify"
    label = "notify"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from batchwatch.notify import periodic  # noqa: F401 - registers the delivery sweep
