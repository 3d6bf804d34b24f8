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
    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


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


def send_slack(notification) -> None:
    """A plain message; the interactive incident message arrives with the Slack integration."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    if not settings.SLACK_BOT_TOKEN:
        raise TransportError("SLACK_BOT_TOKEN is not set", permanent=True)
    client = WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=int(settings.BATCHWATCH_OUTBOX_HTTP_TIMEOUT),
    )
    try:
        client.chat_postMessage(channel=notification.address, text=notification.subject)
    except SlackApiError as exc:
        status = exc.response.status_code
        error = exc.response.get("error", "") if exc.response.data else ""
        if status == 429 or status >= 500:
            raise TransportError(
                f"Slack {status}", retry_after=_retry_after(exc.response.headers.get("Retry-After"))
            ) from exc
        raise TransportError(f"Slack: {error or status}", permanent=True) from exc
    except OSError as exc:
        raise TransportError(f"cannot reach Slack: {exc}") from exc


def send_log(notification) -> None:
    logger.info(
        "notify.log",
        extra={
            "to": notification.address,
            "purpose": notification.purpose,
            "subject": notification.subject,
        },
    )


TRANSPORTS: dict[str, Callable] = {
    "email": send_email,
    "webhook": send_webhook,
    "slack": send_slack,
    "log": send_log,
}


def send(notification) -> None:
    TRANSPORTS[notification.transport](notification)
