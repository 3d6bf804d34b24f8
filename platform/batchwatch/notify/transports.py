"""How one notification leaves the building, per channel kind.

``send()`` returns on success and raises ``TransportError`` otherwise; ``permanent`` errors
(a bad address, revoked credentials) are not retried and mark the channel broken, temporary
ones are retried with backoff, honouring ``retry_after`` when the receiver gave one.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger("batchwatch.notify")


class TransportError(Exception):
    """A failed delivery.

    ``permanent``: retrying cannot help (the row fails). ``breaks_channel``: the channel itself
    is unusable (a revoked token, a deleted channel) and is marked broken until repaired; by
    default every permanent error does, but a message the receiver refuses (too long) does not.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        breaks_channel: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        self.breaks_channel = permanent if breaks_channel is None else breaks_channel


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def send_email(notification) -> None:
    try:
        send_mail(
            subject=notification.subject[:200],
            message=notification.body or notification.subject,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[notification.address],
        )
    except OSError as exc:  # SMTP down, refused connection: try again later
        raise TransportError(f"SMTP: {exc}") from exc


def send_webhook(notification) -> None:
    body = json.dumps(
        {
            "purpose": notification.purpose,
            "subject": notification.subject,
            "body": notification.body,
            "idempotency_key": notification.idempotency_key,
            **notification.payload,
        }
    ).encode()
    if not notification.address.startswith(("https://", "http://")):
        raise TransportError("a webhook address must be an http(s) URL", permanent=True)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        notification.address,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Batchwatch",
            # Receivers that deduplicate see a retried delivery as the same notification.
            "Idempotency-Key": notification.idempotency_key,
        },
    )
    try:
        timeout = settings.BATCHWATCH_OUTBOX_HTTP_TIMEOUT
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 - http(s) only
            return
    except urllib.error.HTTPError as exc:
        status = exc.code
        retry_after = _retry_after(exc.headers.get("Retry-After"))
        if status in (408, 425, 429) or status >= 500:
            raise TransportError(f"HTTP {status}", retry_after=retry_after) from exc
        raise TransportError(f"HTTP {status}: the receiver refused it", permanent=True) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise TransportError(f"cannot reach the webhook: {exc}") from exc


def send_log(notification) -> None:
    logger.info(
        "notify.log",
        extra={
            "to": notification.address,
            "purpose": notification.purpose,
            "subject": notification.subject,
        },
    )


# Apps add theirs from ``AppConfig.ready`` (the Slack app registers "slack" and "slack_reply").
TRANSPORTS: dict[str, Callable] = {
    "email": send_email,
    "webhook": send_webhook,
    "log": send_log,
}


def register(transport: str, send_function: Callable) -> None:
    TRANSPORTS[transport] = send_function


def send(notification) -> None:
    try:
        send_function = TRANSPORTS[notification.transport]
    except KeyError:
        raise TransportError(
            f"no transport '{notification.transport}' is installed", permanent=True
        ) from None
    send_function(notification)
