"""How one notification leaves the building, per channel kind.

``send()`` returns on success (the provider's id of what it sent, when it gives one: Twilio's
message or call SID, matched later by its status callbacks) and raises ``TransportError``
otherwise; ``permanent`` errors (a bad address, revoked credentials) are not retried and mark
the channel broken, temporary ones are retried with backoff, honouring ``retry_after`` when
the receiver gave one.

One module per family: ``phone`` (Twilio SMS and voice), ``push`` (ntfy), ``teams``
(Workflows webhook), ``pagerduty`` (Events API v2); e-mail, webhooks and the log here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import urllib3
from django.conf import settings
from django.core.mail import send_mail

from batchwatch.core import outbound
from batchwatch.notify.transports import pagerduty, phone, push, teams
from batchwatch.notify.transports.base import TransportError, retry_after
from batchwatch.notify.transports.base import http as _http

__all__ = ["TRANSPORTS", "TransportError", "register", "send", "send_email", "send_webhook"]

logger = logging.getLogger("batchwatch.notify")


def email_subject(subject: str) -> str:
    """One line: a sender's alert title may hold line breaks, and a header with one makes
    Django refuse the whole message (BadHeaderError), which would lose the page."""
    return " ".join(subject.split())[:200]


def send_email(notification) -> None:
    try:
        send_mail(
            subject=email_subject(notification.subject),
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
    try:
        pool = _http(notification.address)
        if isinstance(pool, urllib3.ProxyManager):
            outbound.check_url(notification.address)
        response = pool.request(
            "POST",
            notification.address,
            body=body,
            headers={
                "Content-Type": "application/json",
                # Receivers that deduplicate see a retried delivery as the same notification.
                "Idempotency-Key": notification.idempotency_key,
            },
            timeout=settings.BATCHWATCH_OUTBOX_HTTP_TIMEOUT,
            redirect=False,
        )
    except outbound.OutboundRefused as exc:
        raise TransportError(f"refused: {exc.message}", permanent=True) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise TransportError(f"cannot reach the webhook: {exc}") from exc
    status = response.status
    if status < 300:
        return
    if 300 <= status < 400:
        raise TransportError(
            f"HTTP {status}: the receiver redirects to {response.headers.get('Location', '?')};"
            " set the channel's address to where it redirects",
            permanent=True,
        )
    if status in (408, 425, 429) or status >= 500:
        raise TransportError(
            f"HTTP {status}", retry_after=retry_after(response.headers.get("Retry-After"))
        )
    raise TransportError(f"HTTP {status}: the receiver refused it", permanent=True)


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
    "sms": phone.send_sms,
    "voice": phone.send_voice,
    "push": push.send_push,
    "teams": teams.send_teams,
    "pagerduty": pagerduty.send_pagerduty,
}


def register(transport: str, send_function: Callable) -> None:
    TRANSPORTS[transport] = send_function


def send(notification) -> str | None:
    try:
        send_function = TRANSPORTS[notification.transport]
    except KeyError:
        raise TransportError(
            f"no transport '{notification.transport}' is installed", permanent=True
        ) from None
    provider_id: str | None = send_function(notification)
    return provider_id
