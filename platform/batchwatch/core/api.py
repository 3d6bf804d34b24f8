"""Shared API plumbing: errors always come back as JSON with a message, never as a 500 page."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("batchwatch.api")


def exception_handler(exc, context):
    """DRF's handler, plus domain validation errors (raised by services) mapped to 400.

    Services raise Django's ``ValidationError`` so the same rule gives a field error in admin,
    in the API and in YAML loading. An ``IntegrityError`` that slipped past validation (a race
    between two writers) is a conflict, reported as 409 rather than a 500.
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
    return drf_exception_handler(exc, context)
