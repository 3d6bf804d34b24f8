"""Where the Slack credentials come from: the environment first, then admin (SlackWorkspace).

Nothing here logs or returns a secret except to the code that signs or sends with it.
"""

from __future__ import annotations

import http.client
import io
import urllib.error
from functools import cache

import urllib3
from django.conf import settings
from slack_sdk import WebClient

from batchwatch.core import outbound
from batchwatch.slack.models import SlackWorkspace


def _workspace() -> SlackWorkspace | None:
    return SlackWorkspace.objects.order_by("pk").first()


def bot_token() -> str:
    if settings.SLACK_BOT_TOKEN:
        return settings.SLACK_BOT_TOKEN
    workspace = _workspace()
    return workspace.bot_token.strip() if workspace else ""


def signing_secret() -> str:
    if settings.SLACK_SIGNING_SECRET:
        return settings.SLACK_SIGNING_SECRET
    workspace = _workspace()
    return workspace.signing_secret.strip() if workspace else ""


def is_configured() -> bool:
    return bool(bot_token())


def web_client(token: str | None = None):
    """slack-sdk's WebClient on SLACK_API_URL (Slack itself, or a local test server), its
    requests made through ``core.outbound`` (checked at connect time, like every request)."""
    return _guarded_client_class()(
        token=token or bot_token(),
        base_url=settings.SLACK_API_URL,
        timeout=int(settings.BATCHWATCH_OUTBOX_HTTP_TIMEOUT),
        # Retries are the outbox's (with Retry-After and backoff), not the SDK's.
        retry_handlers=[],
    )


@cache
def _guarded_client_class():
    class GuardedWebClient(WebClient):
        """The SDK sends with ``urllib.request``, which has no place to check the address
        it connects to; this sends the request it built through ``core.outbound`` instead
        and answers as urllib would have (errors as ``HTTPError``/``URLError``), so the SDK
        handles the answer as before. ``OutboundRefused`` is raised as it is (permanent).
        ``tests/security/test_outbound.py`` fails if an SDK upgrade stops calling this."""

        def _perform_urllib_http_request_internal(self, url, req):
            try:
                answer = outbound.request(
                    req.get_method(),
                    url,
                    body=req.data,
                    headers=dict(req.header_items()),
                    timeout=self.timeout,
                )
            except outbound.OutboundRefused:
                raise
            except (urllib3.exceptions.HTTPError, OSError) as exc:  # as urllib would raise
                raise urllib.error.URLError(exc) from exc
            headers = http.client.HTTPMessage()
            for name, value in answer.headers.items():
                headers[name] = value
            if answer.status >= 400:
                raise urllib.error.HTTPError(
                    url, answer.status, answer.reason or "", headers, io.BytesIO(answer.data)
                )
            charset = headers.get_content_charset() or "utf-8"
            return {
                "status": answer.status,
                "headers": headers,
                "body": answer.data.decode(charset),
            }

    return GuardedWebClient


def response_url_allowed(url: str) -> bool:
    """Answer only to Slack's own response URLs (a forged URL must not make us call out)."""
    return any(url.startswith(prefix) for prefix in settings.SLACK_RESPONSE_URL_PREFIXES)
