"""Writing the audit log. Call ``record_event`` inside the transaction of the action itself,
so that an action and its audit row are committed (or rolled back) together."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

from django.db.models import Model
from django.http import HttpRequest

from batchwatch.audit.models import AuditEvent
from batchwatch.core.annotations import Actor
from batchwatch.core.ratelimit import client_ip


def record_event(
    action: str,
    *,
    actor: Actor = None,
    actor_name: str = "",
    team: Model | None = None,
    target: Model | None = None,
    target_repr: str = "",
    detail: dict | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """``actor`` is a user (or None); ``actor_name`` says who acted without one (``"cli"``).
    ``target`` is any model instance; ``detail`` is small, JSON-serialisable and holds no
    secret (a token's prefix, never the token)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    name = actor_name or (actor.get_username() if actor is not None else "")
    return AuditEvent.objects.create(
        at=datetime.now(UTC),
        actor=actor,
        actor_name=name[:150],
        action=str(action),
        team=team,
        target_type=(target._meta.label if target is not None else "")[:60],
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_repr=(target_repr or (str(target) if target is not None else ""))[:200],
        detail=detail or {},
        ip=client_ip(request) if request is not None else None,
    )


def cli_actor_name() -> str:
    """Who runs a management command: ``cli:<OS user>``, or ``cli`` when the system cannot
    tell (no user name in the environment or the password database, as in some containers)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"
