"""Ingest authentication: ``Authorization: Bearer <key>`` against stored key hashes.

Wrong keys are counted per client address (``core.ratelimit``): past the limit the sender is
answered 429 with Retry-After, which OTLP exporters honour. Only wrong keys are counted, so a
valid key is never throttled, whoever else shares its address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from django.conf import settings

from batchwatch.core import ratelimit
from batchwatch.ingest.errors import IngestError
from batchwatch.ingest.models import IngestKey, hash_key

# Writing last_used_at on every request would make each export a write; once a minute is plenty.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class IngestPrincipal:
    key_id: int | None
    team_id: int | None


ANONYMOUS = IngestPrincipal(key_id=None, team_id=None)


def authenticate(request) -> IngestPrincipal:
    header = request.headers.get("Authorization", "").strip()
    if not header:
        if settings.BATCHWATCH_INGEST_ALLOW_ANONYMOUS:
            return ANONYMOUS
        raise IngestError(
            401,
            "Missing ingest key: send 'Authorization: Bearer <key>' "
            "(for OTLP exporters: OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20<key>).",
        )
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        _refuse("The Authorization header must be 'Bearer <ingest key>'.", request)
    key = (
        IngestKey.objects.filter(key_hash=hash_key(raw.strip()), revoked_at__isnull=True)
        .only("id", "team_id", "last_used_at")
        .first()
    )
    if key is None:
        _refuse("This ingest key is unknown or revoked.", request)
    now = datetime.now(UTC)
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        IngestKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return IngestPrincipal(key_id=key.pk, team_id=key.team_id)


def _refuse(message: str, request) -> NoReturn:
    """401 for a wrong credential, or 429 once this address sent too many of them."""
    try:
        ratelimit.note_failure("ingest_key", request)
    except ratelimit.Throttled as exc:
        raise IngestError(429, str(exc), retry_after=exc.retry_after) from None
    raise IngestError(401, message)
