"""Shared API plumbing: errors always come back as JSON with a message, never as a 500 page.

Bad input is a 400 with a sentence wherever the database would otherwise refuse it late (a
NUL character in text, an integer beyond 64 bits, a time PostgreSQL cannot store); an
unavailable database is a 503 with Retry-After, so that clients retry instead of giving up.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, InterfaceError, OperationalError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from rest_framework import serializers, status, viewsets
from rest_framework.exceptions import ValidationError as ApiValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("batchwatch.api")

# What senders are told to wait when the database is unavailable: the OTel SDK and most HTTP
# clients honour it, and a restart of the database takes a few seconds.
RETRY_AFTER_SECONDS = 5
# Times outside these years (in UTC) are refused: nothing can read year 10000 back.
MIN_YEAR, MAX_YEAR = 1970, 9999
# PostgreSQL's (and RFC 3339's practical) limit of a UTC offset.
MAX_OFFSET = timedelta(hours=15, minutes=59)
# The longest duration a field takes: SQLite stores durations as 64-bit microseconds (292,000
# years); nothing here needs more than a century.
MAX_DURATION = timedelta(days=36_525)
DURATION_BOUNDS = {"max_value": MAX_DURATION, "min_value": -MAX_DURATION}


def exception_handler(exc, context):
    """DRF's handler, plus domain validation errors (raised by services) mapped to 400.

    Services raise Django's ``ValidationError`` so the same rule gives a field error in admin,
    in the API and in YAML loading. An ``IntegrityError`` that slipped past validation (a race
    between two writers) is a conflict, reported as 409 rather than a 500. A ``DataError`` is
    a value the database refused (out of its range), and an ``OverflowError`` one SQLite
    could not bind (an integer beyond 64 bits): the client's input, a 400. An unavailable
    database is a 503 with Retry-After.
    """
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = exc.message_dict
        else:
            detail = {"non_field_errors": exc.messages}
        return Response(detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, IntegrityError):
        logger.info("api.integrity_conflict", extra={"error": str(exc)})
        return Response(
            {"detail": "This change conflicts with existing data (it may already exist)."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DataError | OverflowError):
        logger.info("api.data_refused", extra={"error": str(exc)[:200]})
        return Response(
            {"detail": "A value is out of the range the database can store."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("api.database_unavailable", extra={"error": str(exc)[:200]})
        return Response(
            {"detail": "The database is unavailable; retry shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return drf_exception_handler(exc, context)


# --- Times ----------------------------------------------------------------------------------


def instant_problem(value: datetime) -> str:
    """Why an aware time cannot be taken ('' if it can): PostgreSQL refuses a UTC offset
    beyond ±15:59, and nothing reads back a year beyond 9999 in UTC."""
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        return "Its UTC offset is beyond ±15:59."
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not MIN_YEAR <= in_utc.year <= MAX_YEAR:
        return f"Send a time within the years {MIN_YEAR} to {MAX_YEAR} in UTC."
    return ""


def bounded_instant(value: datetime, name: str) -> datetime:
    """An aware time in UTC, or a 400 naming ``name`` (see :func:`instant_problem`)."""
    if problem := instant_problem(value):
        raise ApiValidationError({name: [problem]})
    return value.astimezone(UTC)


class UtcDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        if problem := instant_problem(parsed):
            raise forms.ValidationError(problem, code="invalid")
        return parsed.astimezone(UTC)


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 time filter: in range, and sent to the database in UTC (a 400 otherwise;
    PostgreSQL refused an offset beyond ±15:59 with a 500)."""

    field_class = UtcDateTimeField


@csrf_exempt  # API clients send tokens, not CSRF cookies: their POST gets this 404, not a 403
def api_not_found(request, *args, **kwargs):
    """Any /api/ URL no route takes (``/api/v1/jobs/0.5/``, a typo): a JSON 404 like the
    API's own, not the HTML page of the web app."""
    return JsonResponse({"detail": "Not found: no API operation at this URL."}, status=404)


class ServiceModelViewSet(viewsets.ModelViewSet):
    """A model viewset whose writes go through the owning app's services (which validate and
    check permissions exactly as admin and the pages do), never ``serializer.save()``.

    Subclasses give ``save_through_service(serializer, instance)`` (``instance`` is None on
    create) returning the saved row, and ``delete_through_service(instance)``. The answer shows
    the saved row as ``get_queryset`` reads it (with its related rows), so a create or update
    answers exactly what a later GET would."""

    def save_through_service(self, serializer: serializers.BaseSerializer, instance: Any) -> Any:
        raise NotImplementedError

    def delete_through_service(self, instance: Any) -> None:
        raise NotImplementedError

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        self._save(serializer, None)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance: Any) -> None:
        self.delete_through_service(instance)

    def _save(self, serializer: serializers.BaseSerializer, instance: Any) -> None:
        saved = self.save_through_service(serializer, instance)
        serializer.instance = self.get_queryset().get(pk=saved.pk)
