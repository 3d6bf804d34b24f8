"""What an SMS reply or a keypress on a call does, and what Twilio's status callbacks record.

The person is the one whose verified SMS or voice contact method has the number
(``accounts.selectors.contact_method_for_phone``); they act as on the web, with the same
permission rule (``can_act_on_incident``), through ``incident_act_from_channel``. Every
answer is one sentence, read out or sent back; nothing changes on a refusal.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.accounts.selectors import contact_method_for_phone
from batchwatch.alerts.models import Incident
from batchwatch.alerts.permissions import can_act_on_incident
from batchwatch.alerts.services.channel_actions import (
    ACKNOWLEDGE,
    ESCALATE,
    RESOLVE,
    VIA_REPLY,
    incident_act_from_channel,
)
from batchwatch.alerts.services.incidents import FiringAlertsError
from batchwatch.core.links import absolute_url
from batchwatch.notify.models import Notification

logger = logging.getLogger("batchwatch.alerts")

UNKNOWN_NUMBER = (
    "Batchwatch does not know this number: add it to your contact methods and verify it to "
    "act on incidents by phone. Nothing was changed."
)
DONE = {ACKNOWLEDGE: "acknowledged", RESOLVE: "resolved", ESCALATE: "escalated"}
# What a provider's status callback may say; anything else is kept as "unknown".
STATUSES = frozenset(
    {
        "queued", "accepted", "scheduled", "sending", "sent", "delivered", "undelivered",
        "failed", "read", "canceled", "initiated", "ringing", "in-progress", "answered",
        "completed", "busy", "no-answer",
    }
)  # fmt: skip
HISTORY = 20  # status callbacks kept per notification (a call reports four)


def incident_act_by_phone(
    *,
    number: str,
    action: str | None,
    incident_id: int | None,
    channel: str,
    now: datetime,
    help_text: str,
) -> str:
    """Act as the owner of ``number`` (``channel``: ``sms`` or ``voice``); the answer.
    ``help_text`` answers a known number whose command was not understood."""
    method = contact_method_for_phone(number=number)
    if method is None:
        logger.info("twilio.unknown_number", extra={"channel": channel})
        return UNKNOWN_NUMBER
    if action is None:
        return help_text
    user = method.user
    incident = None
    if incident_id is not None:
        incident = Incident.objects.select_related("team").filter(pk=incident_id).first()
    if incident is None or not can_act_on_incident(user, incident, now):
        # The same answer for both: a number must not learn which incidents exist.
        return (
            f"Incident #{incident_id} is not one you may act on, or there is none. "
            "Nothing was changed."
        )
    try:
        incident_act_from_channel(
            incident=incident, user=user, action=action, channel=channel, via=VIA_REPLY, now=now
        )
    except FiringAlertsError as exc:
        url = absolute_url("web:incident", incident.pk)
        return (
            f"Incident #{incident.pk}: {exc.firing} alert(s) still firing, so it was not "
            f"resolved. Resolve it on its page: {url}"
        )
    except ValidationError as exc:
        return f"{' '.join(exc.messages)} Nothing was changed."
    return f"Incident #{incident.pk} {DONE[action]} as {user.get_username()}."


def notification_status_record(
    *,
    provider_id: str,
    status: str,
    error_code: str = "",
    answered_by: str = "",
    now: datetime,
) -> bool:
    """Record a provider's status callback on the notification it sent as ``provider_id``
    (a Twilio message or call SID): ``payload["provider_status"]`` holds the latest,
    ``payload["provider_statuses"]`` the last ``HISTORY``. False when no notification has it.

    Under the row's lock: a call's callbacks (initiated, ringing, answered, completed) come
    close together and each keeps the others'."""
    if not provider_id:
        return False
    status = status.strip().lower()
    entry = {
        "status": status if status in STATUSES else "unknown",
        "at": now.isoformat(),
        **({"error_code": error_code[:20]} if error_code else {}),
        **({"answered_by": answered_by[:40]} if answered_by else {}),
    }
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update()
            .filter(provider_id=provider_id[:100])
            .order_by("-id")
            .first()
        )
        if notification is None:
            return False
        payload = dict(notification.payload or {})
        history = list(payload.get("provider_statuses") or [])[-(HISTORY - 1) :]
        payload["provider_status"] = entry
        payload["provider_statuses"] = [*history, entry]
        notification.payload = payload
        notification.save(update_fields=["payload"])
    logger.info(
        "twilio.status",
        extra={"notification": notification.pk, "status": entry["status"], "code": error_code},
    )
    return True
