"""Slack transports of the outbox: the interactive incident message, plain posts, replies.

Exactly one message per notification, even when a worker dies between Slack's answer and our
commit: every post carries Slack message metadata naming what it is, and a retry first looks
in the channel (or thread) for a message with that name before posting again. The incident
message itself is claimed with a conditional UPDATE, so two deliveries cannot both post it.

Errors: 429 and 5xx are retried (``Retry-After`` honoured, else backoff); errors that mean
the channel or the credentials are unusable (``channel_not_found``, ``invalid_auth``,
``not_in_channel`` …) fail the notification and mark the channel broken; other refusals fail
the notification only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import urllib.error
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from batchwatch.alerts.models import TimelineEntry
from batchwatch.catalog.models import Team
from batchwatch.core import outbound
from batchwatch.core.links import absolute_url, slack_escape
from batchwatch.notify.models import Notification
from batchwatch.notify.transports import TransportError
from batchwatch.slack import blocks, config
from batchwatch.slack.models import SlackMessage
from batchwatch.slack.selectors import incident_card, thread_entries

logger = logging.getLogger("batchwatch.slack")

CHANNEL_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "team_access_not_granted",
    }
)
TEMPORARY_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
METADATA_EVENT = "batchwatch_message"
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


def _header(response, name: str) -> str | None:
    for key, value in (response.headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else value
    return None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _call(method, **kwargs):
    """Call the Web API; translate its failures into the outbox's TransportError."""
    try:
        return method(**kwargs)
    except SlackApiError as exc:
        status = exc.response.status_code
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error", "") or f"HTTP {status}")
        if status == 429 or status >= 500 or error in TEMPORARY_ERRORS:
            raise TransportError(
                f"Slack {status}: {error}",
                retry_after=_retry_after(_header(exc.response, "Retry-After")),
            ) from exc
        raise TransportError(
            f"Slack: {error}", permanent=True, breaks_channel=error in CHANNEL_ERRORS
        ) from exc
    except outbound.OutboundRefused as exc:  # SLACK_API_URL where requests may not go
        raise TransportError(f"refused: {exc.message}", permanent=True) from exc
    except (urllib.error.URLError, OSError) as exc:  # includes timeouts
        raise TransportError(f"cannot reach Slack: {exc}") from exc


def _metadata(key: str) -> dict:
    return {"event_type": METADATA_EVENT, "event_payload": {"key": key[:250]}}


def _key_of(message: dict) -> str:
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != METADATA_EVENT:
        return ""
    return str((metadata.get("event_payload") or {}).get("key", ""))


def _channel_id(client, address: str) -> str:
    """A channel's ID for history lookups (a #name is looked up, which is rare: retries only)."""
    if CHANNEL_ID.match(address):
        return address
    name = address.lstrip("#")
    cursor = None
    while True:
        page = _call(
            client.conversations_list,
            types="public_channel,private_channel",
            exclude_archived=True,
            limit=1000,
            cursor=cursor,
        )
        for channel in page.get("channels", []):
            if channel.get("name") == name:
                return channel["id"]
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            raise TransportError(f"Slack: channel {address} not found", permanent=True)


def _posted_keys(client, channel_id: str, *, since: datetime, thread_ts: str = "") -> dict:
    """Metadata keys of our messages in a channel (or a thread) since ``since``: key → ts."""
    if thread_ts:
        page = _call(
            client.conversations_replies,
            channel=channel_id,
            ts=thread_ts,
            include_all_metadata=True,
            limit=1000,
        )
    else:
        page = _call(
            client.conversations_history,
            channel=channel_id,
            oldest=f"{since.timestamp() - 60:.6f}",
            include_all_metadata=True,
            limit=1000,
        )
    return {_key_of(m): m.get("ts", "") for m in page.get("messages", []) if _key_of(m)}


def send_slack(notification: Notification) -> None:
    token = config.bot_token()
    if not token:
        raise TransportError(
            "Slack is not configured: set SLACK_BOT_TOKEN (or the workspace in admin)",
            permanent=True,
            breaks_channel=False,
        )
    client = config.web_client(token)
    purpose = notification.purpose
    if notification.incident_id and purpose in (Notification.Purpose.GROUP, "update"):
        incident_message_sync(client, notification)
    else:
        _post_once(client, notification)


def _post_once(client, notification: Notification) -> None:
    """A plain message (a page to a team channel, a notice, a handoff)."""
    key = notification.idempotency_key
    if notification.attempts > 1:  # an earlier attempt may have been posted after all
        channel_id = _channel_id(client, notification.address)
        if key[:250] in _posted_keys(client, channel_id, since=notification.created_at):
            return
    # Subject and body carry alert text (a sender's): escaped, so "<!channel>" stays text.
    text = notification.subject + (f"\n{notification.body}" if notification.body else "")
    text = slack_escape(text)[:3800]  # room for the link below, which is ours
    if notification.incident_id:
        incident_url = absolute_url("web:incident", notification.incident_id)
        text += f"\n<{incident_url}|Open incident>"
    _call(
        client.chat_postMessage,
        channel=notification.address,
        text=text[:3900],
        metadata=_metadata(key),
        unfurl_links=False,
    )


def _render(incident_id: int, now: datetime) -> tuple[list[dict], str, str]:
    card = incident_card(incident_id, now=now)
    rendered = blocks.incident_blocks(card)
    text = blocks.fallback_text(card)
    digest = hashlib.sha256(json.dumps([rendered, text], sort_keys=True).encode()).hexdigest()
    return rendered, text, digest


def _message_key(message: SlackMessage) -> str:
    return f"incident:{message.incident_id}:{message.address}"


def _claim_posting(message: SlackMessage, now: datetime) -> bool:
    lease = now + timedelta(seconds=settings.BATCHWATCH_OUTBOX_LEASE_SECONDS)
    return bool(
        SlackMessage.objects.filter(pk=message.pk, ts="")
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
        .update(claimed_until=lease)
    )


def incident_message_sync(client, notification: Notification) -> None:
    """Post the incident's message in this channel, or bring it up to date, then its thread."""
    now = datetime.now(UTC)
    incident_id = notification.incident_id
    newest = (
        TimelineEntry.objects.filter(incident_id=incident_id).aggregate(newest=Max("id"))["newest"]
        or 0
    )
    message, _ = SlackMessage.objects.get_or_create(
        incident_id=incident_id,
        address=notification.address,
        defaults={"channel": notification.channel, "posted_at": now, "last_entry_id": newest},
    )
    rendered, text, digest = _render(incident_id, now)
    if not message.ts:
        if not _claim_posting(message, now):
            raise TransportError("another delivery is posting this message", retry_after=5)
        key = _message_key(message)
        ts, channel_id = "", ""
        if message.posting_attempts:  # an earlier attempt may have reached Slack
            channel_id = _channel_id(client, notification.address)
            ts = _posted_keys(client, channel_id, since=message.posted_at).get(key, "")
        SlackMessage.objects.filter(pk=message.pk).update(
            posting_attempts=message.posting_attempts + 1
        )
        if not ts:
            try:
                response = _call(
                    client.chat_postMessage,
                    channel=notification.address,
                    text=text,
                    blocks=rendered,
                    metadata=_metadata(key),
                    unfurl_links=False,
                )
            except TransportError:
                # Slack answered (or did not): either way we are not posting any more; the
                # next attempt looks in the channel first since posting_attempts > 0.
                SlackMessage.objects.filter(pk=message.pk).update(claimed_until=None)
                raise
            ts, channel_id = response["ts"], response["channel"]
        message.ts, message.slack_channel_id, message.rendered_hash = ts, channel_id, digest
        message.last_entry_id, message.updated_at = newest, now
        message.save(
            update_fields=["ts", "slack_channel_id", "rendered_hash", "last_entry_id", "updated_at"]
        )
        logger.info("slack.posted", extra={"incident": incident_id, "channel": channel_id})
        return
    if digest != message.rendered_hash:
        _call(
            client.chat_update,
            channel=message.slack_channel_id,
            ts=message.ts,
            text=text,
            blocks=rendered,
        )
        SlackMessage.objects.filter(pk=message.pk).update(rendered_hash=digest, updated_at=now)
    _thread(client, message, notification, newest)


def _thread(client, message: SlackMessage, notification: Notification, newest: int) -> None:
    team = Team.objects.filter(incidents__pk=message.incident_id).first()
    mode = team.slack_thread_updates if team else "important"
    entries = [e for e in thread_entries(message, mode) if e.id <= newest]
    posted = {}
    if entries and notification.attempts > 1:
        posted = _posted_keys(
            client, message.slack_channel_id, since=message.posted_at, thread_ts=message.ts
        )
    for entry in entries:
        key = f"entry:{entry.pk}:{message.pk}"
        if key not in posted:
            _call(
                client.chat_postMessage,
                channel=message.slack_channel_id,
                thread_ts=message.ts,
                text=blocks.thread_text(entry),
                metadata=_metadata(key),
                unfurl_links=False,
            )
        # Recorded one by one: a crash mid-thread resumes after the last reply posted.
        SlackMessage.objects.filter(pk=message.pk).update(last_entry_id=entry.pk)
    SlackMessage.objects.filter(pk=message.pk, last_entry_id__lt=newest).update(
        last_entry_id=newest
    )


def send_slack_reply(notification: Notification) -> None:
    """An ephemeral answer to one person, through the interaction's response_url."""
    url = notification.address
    if not config.response_url_allowed(url):
        raise TransportError("not a Slack response URL", permanent=True, breaks_channel=False)
    client = WebhookClient(url, timeout=int(settings.BATCHWATCH_OUTBOX_HTTP_TIMEOUT))
    try:
        response = client.send_dict(notification.payload)
    except (urllib.error.URLError, OSError) as exc:
        raise TransportError(f"cannot reach Slack: {exc}") from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransportError(
            f"Slack {status}", retry_after=_retry_after(_header(response, "Retry-After"))
        )
    if status >= 400:  # an expired response_url (30 minutes, 5 uses): nothing to retry
        raise TransportError(
            f"Slack {status}: {response.body}", permanent=True, breaks_channel=False
        )
