"""Reads of the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Model

from batchwatch.core.permissions import is_admin
from batchwatch.notify.models import Channel, Notification

# Addresses that are a person's phone number: masked for everyone but staff and the person.
PHONE_TRANSPORTS = frozenset({Notification.Transport.SMS, Notification.Transport.VOICE})
# Addresses shown to anyone who sees the incident (the incident page always showed them).
PUBLIC_TRANSPORTS = frozenset({Notification.Transport.EMAIL, Notification.Transport.SLACK})
# What a provider's status says about the message: reached the person, did not, or not yet.
REACHED = frozenset({"delivered", "read", "answered", "completed"})
MISSED = frozenset({"failed", "undelivered", "busy", "no-answer", "canceled"})


def broken_channels_of(incident: Model) -> list[Channel]:
    """Channels marked broken that this incident's notifications went (or would go) to."""
    return list(
        Channel.objects.filter(is_broken=True, notifications__incident_id=incident.pk)
        .distinct()
        .order_by("name")
    )


@dataclass(frozen=True)
class Delivery:
    """One notification about an incident as its delivery log shows it."""

    id: int
    at: datetime
    who: str
    username: str  # "" when it went to a channel or a bare address
    address: str  # masked or "" when the viewer may not see it (``incident_deliveries``)
    transport: str
    transport_label: str
    purpose: str
    purpose_label: str
    provider_id: str
    state: str
    state_label: str
    delivered_at: datetime | None
    attempts: int
    last_error: str
    provider_status: str  # the provider's latest status callback ("" before any)
    provider_status_at: datetime | None
    provider_error_code: str
    answered_by: str  # a call's answering machine detection ("human", "machine_start")

    @property
    def provider_tone(self) -> str:
        """``ok``, ``bad`` or ``pending``: the colour of the provider's status."""
        if self.provider_status in REACHED:
            return "ok"
        return "bad" if self.provider_status in MISSED else "pending"


def mask_phone(number: str) -> str:
    """``+14155551234`` → ``+1 *** *** 1234``: enough to tell two numbers apart, not to call.

    The country code is a guess from the number's length (E.164 has no separator): one digit
    for 11-digit numbers (+1), two otherwise; a short number shows only its last two digits."""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 8:
        return "*** " + digits[-2:] if digits else ""
    country = digits[:1] if len(digits) == 11 else digits[:2]
    return f"+{country} *** *** {digits[-4:]}"


def _shown_address(n: Notification, viewer: Any) -> str:
    """The address as ``viewer`` may see it: a phone number in full to staff and to the
    person it belongs to, masked to others; an e-mail address or Slack channel to everyone;
    webhook URLs, push topics and routing keys (each a secret of sorts) to staff and to
    their person only."""
    own = n.user_id is not None and viewer is not None and n.user_id == viewer.pk
    if own or is_admin(viewer) or n.transport in PUBLIC_TRANSPORTS:
        return n.address
    return mask_phone(n.address) if n.transport in PHONE_TRANSPORTS else ""


def _parsed_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _delivery(n: Notification, viewer: Any) -> Delivery:
    status = (n.payload or {}).get("provider_status") if isinstance(n.payload, dict) else None
    status = status if isinstance(status, dict) else {}
    user, shown = n.user, _shown_address(n, viewer)
    if user is not None:
        who = user.get_full_name() or user.get_username()
    elif n.channel is not None:
        who = n.channel.name
    else:
        who = shown or n.get_transport_display()
    return Delivery(
        id=n.pk,
        at=n.created_at,
        who=who,
        username=user.get_username() if user is not None else "",
        address=shown,
        transport=n.transport,
        transport_label=n.get_transport_display(),
        purpose=n.purpose,
        purpose_label=n.get_purpose_display(),
        provider_id=n.provider_id,
        state=n.state,
        state_label=n.get_state_display(),
        delivered_at=n.delivered_at,
        attempts=n.attempts,
        last_error=n.last_error,
        provider_status=str(status.get("status") or ""),
        provider_status_at=_parsed_time(status.get("at")),
        provider_error_code=str(status.get("error_code") or ""),
        answered_by=str(status.get("answered_by") or ""),
    )


def incident_deliveries(*, incident_id: int, viewer: Any) -> list[Delivery]:
    """Everything sent about the incident, oldest first, as ``viewer`` may see it: who, how,
    why, the provider's id and latest status callback, our state, attempts and last error.

    One query (people and channels joined). Slack's ephemeral answers to one person are left
    out, as on the page's timeline; the caller has checked that ``viewer`` may see the
    incident."""
    rows = (
        Notification.objects.filter(incident_id=incident_id)
        .exclude(purpose=Notification.Purpose.REPLY)
        .select_related("user", "channel")
        .defer("body", "subject", "claim")
        .order_by("created_at", "id")
    )
    return [_delivery(n, viewer) for n in rows]
