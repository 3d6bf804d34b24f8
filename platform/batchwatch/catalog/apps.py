from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Teams, jobs, their owners and the edges between jobs."""

    name = "batchwatch.catalog"
    label = "catalog"
    verbose_name = "Catalog"
