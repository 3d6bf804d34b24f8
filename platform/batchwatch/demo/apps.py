from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data (``manage.py load_demo``): it loads through every app's services, so it
    sits above them all. Its inbox keeps the demo's notifications instead of sending them."""

    name = "batchwatch.demo"
    label = "demo"
    verbose_name = "Demo data"

    def ready(self) -> None:
        from batchwatch.core import startup
        from batchwatch.demo import inbox

        inbox.install()
        startup.register("demo-inbox", inbox.on_startup)
