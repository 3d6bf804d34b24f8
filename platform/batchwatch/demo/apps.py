from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data (``manage.py load_demo``): it loads through every app's services, so it
    sits above them all."""

    name = "batchwatch.demo"
    label = "demo"
    verbose_name = "Demo data"
