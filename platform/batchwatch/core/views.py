"""Liveness and readiness probes."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger("batchwatch.health")


@never_cache
@require_GET
def healthz(request):
    """The process is alive and serving requests; touches nothing else."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """Ready for traffic: the database answers a query. 503 otherwise, so balancers drain us."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health.database_unreachable", extra={"error": str(exc)})
        return JsonResponse(
            {"status": "unavailable", "database": f"unreachable: {exc.__class__.__name__}"},
            status=503,
        )
    return JsonResponse({"status": "ready", "database": "ok", "vendor": connection.vendor})
