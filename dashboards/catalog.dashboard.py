"""The catalog's dashboards: one per team, job and SLO, and the platform's own.

Built by `python manage.py dashboards build|diff|deploy`; the catalog comes from the database.
"""

from batchwatch.dashboards.generators import catalog_dashboards


def dashboards(catalog):
    return catalog_dashboards(catalog)
