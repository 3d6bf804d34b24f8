"""How one notification leaves the building, per channel kind.

``send()`` returns on success and raises ``TransportError`` otherwise; ``permanent`` errors
(a bad address, revoked credentials) are not retried and mark the channel broken, temporary
ones are retried with backoff, honouring ``retry_after`` when the receiver gave one.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

import urllib3
from django.conf import settings
from django.core.mail import send_mail

from batchwatch.core import outbound

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


_pools: dict[str, urllib3.PoolManager] = {}
_pools_lock = threading.Lock()


def _http(url: str) -> urllib3.PoolManager:
    """The connection pool for ``url``, one per process (and per proxy), shared by the sender
    threads (it is thread-safe). Connections to a receiver stay open between deliveries, so
    a storm's hundreds of webhooks to one address do not each pay a TCP (and TLS) handshake.
    Proxies come from the environment as for urllib (``HTTPS_PROXY``, ``NO_PROXY``...). No
    automatic retries or redirects: the outbox retries, with the same Idempotency-Key."""
    proxy = urllib.request.getproxies().get(url.split(":", 1)[0].lower())
    if proxy and urllib.request.proxy_bypass(urllib3.util.parse_url(url).host or ""):
        proxy = None
    key = proxy or ""
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            options: dict[str, Any] = {
                "num_pools": 50,
                "maxsize": settings.BATCHWATCH_OUTBOX_CONCURRENCY,
                "retries": False,
                "headers": {"User-Agent": "Batchwatch"},
            }
            # Direct connections are checked after DNS resolution (core/outbound.py); through
            # a proxy, the target is checked before the request (``send_webhook``).
            pool = (
                urllib3.ProxyManager(proxy, **options)
                if proxy
                else outbound.guard(urllib3.PoolManager(**options))
            )
            _pools[key] = pool
        return pool


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
        retry_after = _retry_after(response.headers.get("Retry-After"))
        raise TransportError(f"HTTP {status}", retry_after=retry_after)
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
