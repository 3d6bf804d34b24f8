"""Site-wide edges of the pages (and everything else): an unavailable database is a 503 with
Retry-After, not a 500; a NUL character in a URL is a 400 (PostgreSQL refuses NUL in text,
and no page or API takes one)."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

from batchwatch.core.api import RETRY_AFTER_SECONDS

logger = logging.getLogger("batchwatch.web")

_UNAVAILABLE = (
    "<!doctype html><title>Batchwatch: unavailable</title>"
    "<h1>Batchwatch is briefly unavailable</h1>"
    "<p>Its database cannot be reached. This page retries by itself; try again in a few "
    "seconds.</p>"
)


class EdgeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return _answer(request, 400, "The URL must not contain NUL characters (%00).")
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("web.database_unavailable", extra={"error": str(exception)[:200]})
        response = _answer(request, 503, "The database is unavailable; retry shortly.")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


def _answer(request, status: int, message: str) -> HttpResponse:
    if request.path.startswith(("/api/", "/v1/", "/v2/")) or "html" not in request.headers.get(
        "Accept", ""
    ):
        return JsonResponse({"detail": message}, status=status)
    if status == 503:
        body = _UNAVAILABLE.replace(
            "<title>", f'<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS}"><title>'
        )
        return HttpResponse(body, status=503)
    return HttpResponse(f"<!doctype html><title>Bad request</title><p>{message}</p>", status=status)
