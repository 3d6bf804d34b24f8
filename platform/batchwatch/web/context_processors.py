from django.conf import settings

# The two engines settings.py accepts (anything else is refused at start-up).
DATABASE_NAMES = {
    "django.db.backends.sqlite3": "SQLite",
    "django.db.backends.postgresql": "PostgreSQL",
}


def topology() -> dict:
    """What this deployment runs on, as the banner states it.

    Read from the settings the processes start from: the database engine of ``DATABASES``
    and ``BATCHWATCH_EMBEDDED`` (no ``REDIS_URL``: ``serve`` runs the periodic registry in
    process; with one, Celery workers and beat do).
    """
    engine = settings.DATABASES["default"]["ENGINE"]
    database = DATABASE_NAMES.get(engine, engine.rsplit(".", 1)[-1])
    embedded = settings.BATCHWATCH_EMBEDDED
    return {
        "database": database,
        "scheduler": "the in-process scheduler" if embedded else "Celery workers on Redis",
        "embedded": embedded,
        # The production topology is PostgreSQL with Celery; anything else deserves a pointer.
        "production_ready": database == "PostgreSQL" and not embedded,
    }


def batchwatch(request):
    return {
        "batchwatch_env": settings.BATCHWATCH_ENV,
        "batchwatch_embedded": settings.BATCHWATCH_EMBEDDED,
        "batchwatch_topology": topology(),
    }
