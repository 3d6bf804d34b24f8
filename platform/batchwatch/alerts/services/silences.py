"""Silences: created and expired through here (API, pages, Slack, config), audited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.alerts.matchers import matches_empty, parse_matchers
from batchwatch.alerts.models import Silence
from batchwatch.alerts.permissions import suppression_teams
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.catalog.models import Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest
    from rest_framework.request import Request


def _suppression_team(matchers: Iterable[str]) -> Team | None:
    """The team a silence or window belongs to, for the audit log: the one its team matcher
    names (none for a global one, or one naming several teams)."""
    slugs = suppression_teams(matchers)
    return Team.objects.filter(slug=next(iter(slugs))).first() if len(slugs) == 1 else None


@transaction.atomic
def silence_create(
    *,
    matchers: list[str],
    starts_at: datetime,
    ends_at: datetime,
    comment: str,
    created_by: User | None = None,
    now: datetime,
    request: HttpRequest | Request | None = None,
    actor_name: str = "",
) -> Silence:
    """A silence, validated as Alertmanager does (one matcher must not match the empty string),
    and its audit event (``created_by`` acted; ``actor_name`` says who when no user did)."""
    try:
        parsed = parse_matchers(matchers)
    except ValueError as exc:
        raise ValidationError({"matchers": str(exc)}) from exc
    if not parsed:
        raise ValidationError({"matchers": "A silence needs at least one matcher."})
    if all(matches_empty(m) for m in parsed):
        raise ValidationError(
            {
                "matchers": "At least one matcher must not match the empty string, "
                "or the silence would silence everything."
            }
        )
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "A silence ends after it starts."})
    if ends_at <= now:
        raise ValidationError({"ends_at": "This silence would already be over."})
    if not (comment or "").strip():
        raise ValidationError({"comment": "Say why (it is what the next on-call reads)."})
    silence = Silence.objects.create(
        matchers=[str(m) for m in parsed],
        starts_at=starts_at,
        ends_at=ends_at,
        comment=comment.strip(),
        created_by=created_by,
        created_at=now,
    )
    silence_record_event(
        AuditEvent.Action.SILENCE_CREATED,
        silence=silence,
        actor=created_by,
        actor_name=actor_name,
        request=request,
    )
    return silence


def silence_record_event(
    action: str,
    *,
    silence: Silence,
    actor: User | None = None,
    actor_name: str = "",
    request: HttpRequest | Request | None = None,
) -> None:
    """The audit event of a silence created or expired (here, or in admin, which saves with
    its own form): the team its matcher names, its matchers and times. Call in the
    transaction that saved it."""
    record_event(
        action,
        actor=actor,
        actor_name=actor_name,
        team=_suppression_team(silence.matchers),
        target=silence,
        detail={
            "matchers": list(silence.matchers),
            "starts_at": silence.starts_at.isoformat(),
            "ends_at": silence.ends_at.isoformat(),
        },
        request=request,
    )


@transaction.atomic
def silence_expire(
    *,
    silence: Silence,
    now: datetime,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
    actor_name: str = "",
) -> Silence:
    """End a silence now (a pending one never starts); the alerts it held come back at the
    next reconsideration. Expiring one already over changes (and records) nothing."""
    if silence.ends_at > now:
        if silence.starts_at >= now:
            silence.starts_at = now - timedelta(milliseconds=1)
        silence.ends_at = now
        silence.save(update_fields=["starts_at", "ends_at"])
        silence_record_event(
            AuditEvent.Action.SILENCE_EXPIRED,
            silence=silence,
            actor=actor,
            actor_name=actor_name,
            request=request,
        )
    return silence
