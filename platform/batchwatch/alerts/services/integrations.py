"""Integrations: the senders of alerts and their tokens."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from batchwatch.alerts.models import Integration, generate_token, hash_token
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.catalog.models import Team

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest
    from rest_framework.request import Request


@transaction.atomic
def integration_create(
    *,
    name: str,
    kind: str,
    team: Team | None = None,
    labels: dict[str, str] | None = None,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> tuple[Integration, str]:
    """A new integration and its token, returned once (only its hash is stored). Made by a
    person (``actor``: the team settings page, the API) it is in the audit log, with the
    token's prefix, never the token."""
    if kind not in Integration.Kind.values:
        raise ValidationError({"kind": f"unknown integration kind {kind!r}"})
    if not name.strip():
        raise ValidationError({"name": "Name the integration (what sends from it)."})
    raw = generate_token()
    integration = Integration.objects.create(
        name=name,
        kind=kind,
        team=team,
        labels=labels or {},
        token_hash=hash_token(raw),
        token_prefix=raw[:10],
    )
    if actor is not None:
        _integration_event(AuditEvent.Action.INTEGRATION_CREATED, integration, actor, request)
    return integration, raw


def _integration_event(
    action: str,
    integration: Integration,
    actor: User | None,
    request: HttpRequest | Request | None,
) -> None:
    record_event(
        action,
        actor=actor,
        team=integration.team,
        target=integration,
        detail={
            "name": integration.name,
            "kind": integration.kind,
            "prefix": integration.token_prefix,
        },
        request=request,
    )


# Known tokens are remembered per process for a few seconds: a storm sends hundreds of
# requests a second with the same token. Revoking through the service (admin does) forgets
# them here at once; other processes stop accepting the token within TOKEN_CACHE_SECONDS.
TOKEN_CACHE_SECONDS = 5.0


_TOKEN_CACHE_MAX = 1000


_token_cache: dict[tuple[str, str], tuple[float, Integration]] = {}


def integration_for_token(raw: str, *, kind: str) -> Integration | None:
    if not raw:
        return None
    key = (hash_token(raw), kind)
    hit = _token_cache.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    integration = (
        Integration.objects.filter(token_hash=key[0], kind=kind, revoked_at=None)
        .select_related("team")
        .order_by()
        .first()
    )
    if integration is not None:  # unknown tokens are not remembered: new ones work at once
        if len(_token_cache) >= _TOKEN_CACHE_MAX:
            _token_cache.clear()
        _token_cache[key] = (time.monotonic() + TOKEN_CACHE_SECONDS, integration)
    return integration


@transaction.atomic
def integrations_revoke(
    integrations: QuerySet[Integration],
    *,
    now: datetime,
    actor: User | None = None,
    request: HttpRequest | Request | None = None,
) -> int:
    """Revoke integrations (a queryset); their tokens stop working now in this process and
    within ``TOKEN_CACHE_SECONDS`` in the others. Revoked by a person (``actor``), each is in
    the audit log."""
    revoked = list(
        # of=self: the team is a nullable join, which PostgreSQL will not lock.
        integrations.filter(revoked_at__isnull=True)
        .select_for_update(of=("self",))
        .select_related("team")
    )
    Integration.objects.filter(pk__in=[i.pk for i in revoked]).update(revoked_at=now)
    if actor is not None:
        for integration in revoked:
            _integration_event(AuditEvent.Action.INTEGRATION_REVOKED, integration, actor, request)
    integration_tokens_forget()
    return len(revoked)


def integration_tokens_forget() -> None:
    """Forget the tokens this process remembers (after an integration is changed)."""
    _token_cache.clear()
