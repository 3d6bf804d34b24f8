"""Messages to a person's own contact method that are not pages: the verification code and
"send me a test page". Both go through the outbox like every other message, in the
transaction that decided them, to the transport of the method's kind."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.accounts.models import CODE_LIFETIME, ContactMethod
from batchwatch.accounts.services import (
    contact_method_mark_sent,
    contact_method_verification_start,
)
from batchwatch.notify.models import Notification
from batchwatch.notify.services import Recipient, notification_enqueue

# A contact method's kind → the outbox transport that reaches it. A Slack member ID is a
# channel to chat.postMessage: the message arrives as a direct message from the app.
TRANSPORT_FOR_KIND: dict[str, str] = {
    ContactMethod.Kind.EMAIL: Notification.Transport.EMAIL,
    ContactMethod.Kind.SMS: Notification.Transport.SMS,
    ContactMethod.Kind.VOICE: Notification.Transport.VOICE,
    ContactMethod.Kind.PUSH: Notification.Transport.PUSH,
    ContactMethod.Kind.SLACK_DM: Notification.Transport.SLACK,
    ContactMethod.Kind.TEAMS: Notification.Transport.TEAMS,
    ContactMethod.Kind.WEBHOOK: Notification.Transport.WEBHOOK,
}


def recipient_for(method: ContactMethod) -> Recipient:
    """Where the outbox sends what is meant for ``method``."""
    return Recipient(
        transport=TRANSPORT_FOR_KIND[method.kind],
        address=method.address,
        user_id=method.user_id,
        label=method.label,
    )


def _enqueue(
    method: ContactMethod, *, what: str, subject: str, body: str, now: datetime
) -> Notification | None:
    return notification_enqueue(
        purpose=Notification.Purpose.NOTICE,
        recipient=recipient_for(method),
        subject=subject,
        body=body,
        # Each request is its own message: a person asking twice wants two.
        idempotency_key=f"contact-method:{method.pk}:{what}:{uuid.uuid4().hex}",
        now=now,
        payload={
            "kind": f"contact_method.{what}",
            "contact_method": method.pk,
            # A test page should show whether a real page breaks through Do Not Disturb.
            "urgency": "high" if what == "test" else "low",
        },
    )


def contact_method_send_code(method: ContactMethod, *, now: datetime) -> Notification | None:
    """Send ``method`` a new verification code (the previous one stops working). Raises
    ``accounts.services.SendTooSoon`` when a message went there moments ago."""
    with transaction.atomic():
        code = contact_method_verification_start(method, now=now)
        minutes = int(CODE_LIFETIME.total_seconds() // 60)
        return _enqueue(
            method,
            what="code",
            subject=f"Batchwatch verification code: {code}",
            body=(
                f"Your Batchwatch verification code is {code}. Enter it on your notification"
                f" settings page within {minutes} minutes. If you did not ask for it, ignore"
                " this message."
            ),
            now=now,
        )


def contact_method_test_page(method: ContactMethod, *, now: datetime) -> Notification | None:
    """Send a verified ``method`` a test page. Raises a ValidationError for an unverified one
    (a code goes there instead), ``SendTooSoon`` when a message went there moments ago."""
    if method.verified_at is None:
        raise ValidationError(
            "Verify this contact method first: send it a code and enter the code here."
        )
    with transaction.atomic():
        contact_method_mark_sent(method, now=now)
        return _enqueue(
            method,
            what="test",
            subject="Batchwatch test page",
            body=(
                "This is a test page from Batchwatch, sent because you asked for one. A real"
                " page arrives like this one."
            ),
            now=now,
        )
