"""Where the Slack credentials come from: the environment first, then admin (SlackWorkspace).

Nothing here logs or returns a secret except to the code that signs or sends with it.
"""

from __future__ import annotations

from django.conf import settings

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
    """slack-sdk's WebClient on SLACK_API_URL (Slack itself, or a local test server)."""
    from slack_sdk import WebClient

    return WebClient(
        token=token or bot_token(),
        base_url=settings.SLACK_API_URL,
        timeout=int(settings.BATCHWATCH_OUTBOX_HTTP_TIMEOUT),
        # Retries are the outbox's (with Retry-After and backoff), not the SDK's.
        retry_handlers=[],
    )


def response_url_allowed(url: str) -> bool:
    """Answer only to Slack's own response URLs (a forged URL must not make us call out)."""
    return any(url.startswith(prefix) for prefix in settings.SLACK_RESPONSE_URL_PREFIXES)
