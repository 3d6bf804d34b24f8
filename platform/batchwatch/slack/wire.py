"""Slack's requests at the edge: signature and replay checks, and the payloads as typed objects.

Slack signs ``v0:{X-Slack-Request-Timestamp}:{raw body}`` with the app's signing secret
(HMAC-SHA256, ``X-Slack-Signature: v0=<hex>``); a request whose timestamp is more than five
minutes from our clock is a possible replay and refused. Interactions arrive form-encoded as
``payload=<json>``; slash commands as plain form fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from batchwatch.slack import config

MAX_AGE_SECONDS = 5 * 60


class SlackRequestError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _FixedClock:
    def __init__(self, now: float):
        self._now = now

    def now(self) -> float:
        return self._now


def verify(body: bytes, headers, *, now: float) -> None:
    """Raise SlackRequestError unless Slack signed this body within the last five minutes."""
    secret = config.signing_secret()
    if not secret:
        raise SlackRequestError(
            503, "Slack is not configured here: set SLACK_SIGNING_SECRET (or it in admin)."
        )
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise SlackRequestError(
            401, "Missing X-Slack-Signature or X-Slack-Request-Timestamp: not a Slack request."
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise SlackRequestError(401, "X-Slack-Request-Timestamp is not a Unix time.") from None
    if abs(now - sent_at) > MAX_AGE_SECONDS:
        raise SlackRequestError(
            401, "Request timestamp is more than 5 minutes old: refused as a possible replay."
        )
    verifier = SignatureVerifier(secret, clock=_FixedClock(now))
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        raise SlackRequestError(401, "Invalid X-Slack-Signature: check the signing secret.")


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise SlackRequestError(400, "The body is not UTF-8 form data.") from None
    return {name: values[0] for name, values in fields.items()}


@dataclass(frozen=True)
class BlockAction:
    """One click (or selection) on an interactive message."""

    user_id: str
    team_id: str
    action_id: str
    block_id: str
    value: str
    selected_option: str
    selected_user: str
    action_ts: str
    response_url: str
    channel_id: str
    message_ts: str


def parse_interaction(body: bytes) -> BlockAction | None:
    """The first action of a ``block_actions`` payload; None for interaction types we ignore."""
    raw = _form(body).get("payload")
    if not raw:
        raise SlackRequestError(400, "Malformed interaction: no 'payload' form field.")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise SlackRequestError(400, "Malformed interaction: 'payload' is not JSON.") from None
    if not isinstance(payload, dict):
        raise SlackRequestError(400, "Malformed interaction: 'payload' is not an object.")
    if payload.get("type") != "block_actions":
        return None
    user = payload.get("user")
    actions = payload.get("actions")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise SlackRequestError(400, "Malformed interaction: no user.id.")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise SlackRequestError(400, "Malformed interaction: no actions.")
    action = actions[0]
    if not isinstance(action.get("action_id"), str):
        raise SlackRequestError(400, "Malformed interaction: the action has no action_id.")
    option = action.get("selected_option")
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}

    def text(value) -> str:
        return value if isinstance(value, str) else ""

    return BlockAction(
        user_id=user["id"],
        team_id=text(user.get("team_id")) or text((payload.get("team") or {}).get("id")),
        action_id=action["action_id"],
        block_id=text(action.get("block_id")),
        value=text(action.get("value")),
        selected_option=text(option.get("value")) if isinstance(option, dict) else "",
        selected_user=text(action.get("selected_user")),
        action_ts=text(action.get("action_ts")),
        response_url=text(payload.get("response_url")),
        channel_id=text(channel.get("id")) or text(container.get("channel_id")),
        message_ts=text(container.get("message_ts")),
    )


@dataclass(frozen=True)
class SlashCommand:
    command: str
    text: str
    user_id: str
    team_id: str
    channel_id: str
    channel_name: str
    response_url: str
    trigger_id: str


def parse_command(body: bytes) -> SlashCommand:
    form = _form(body)
    missing = [name for name in ("command", "user_id") if not form.get(name)]
    if missing:
        raise SlackRequestError(400, f"Malformed slash command: missing {', '.join(missing)}.")
    return SlashCommand(
        command=form["command"],
        text=form.get("text", "").strip(),
        user_id=form["user_id"],
        team_id=form.get("team_id", ""),
        channel_id=form.get("channel_id", ""),
        channel_name=form.get("channel_name", ""),
        response_url=form.get("response_url", ""),
        trigger_id=form.get("trigger_id", ""),
    )


@dataclass(frozen=True)
class ThreadReply:
    """A person's new message in a thread (Events API ``message`` event), as we act on it."""

    event_id: str
    team_id: str
    channel_id: str
    thread_ts: str
    ts: str
    user_id: str
    user_name: str
    text: str


@dataclass(frozen=True)
class UrlVerification:
    challenge: str


def _json_object(body: bytes) -> dict:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise SlackRequestError(400, "Malformed event: the body is not UTF-8 JSON.") from None
    if not isinstance(payload, dict):
        raise SlackRequestError(400, "Malformed event: the body is not a JSON object.")
    return payload


# Slack's message subtype of a thread reply also sent to the channel.
THREAD_BROADCAST = "thread_broadcast"


def _thread_reply(payload: dict, event: dict) -> ThreadReply | None:
    def text(value) -> str:
        return value if isinstance(value, str) else ""

    # Bots (ours included: our thread replies must not come back as notes), edits, deletions,
    # joins and every other subtype are not someone writing in the thread. A reply also sent
    # to the channel is one ("thread_broadcast": user, text, ts and thread_ts as a reply's).
    subtype = event.get("subtype")
    if subtype and subtype != THREAD_BROADCAST:
        return None
    if event.get("bot_id") or event.get("bot_profile"):
        return None
    thread_ts, ts = text(event.get("thread_ts")), text(event.get("ts"))
    # A message that starts a thread (or is not in one) is not a reply.
    if not thread_ts or not ts or thread_ts == ts:
        return None
    user, channel = text(event.get("user")), text(event.get("channel"))
    if not user or not channel:
        raise SlackRequestError(400, "Malformed event: a message without user or channel.")
    profile = event.get("user_profile") if isinstance(event.get("user_profile"), dict) else {}
    return ThreadReply(
        event_id=text(payload.get("event_id")),
        team_id=text(payload.get("team_id")) or text(event.get("team")),
        channel_id=channel,
        thread_ts=thread_ts,
        ts=ts,
        user_id=user,
        user_name=text(profile.get("display_name")) or text(profile.get("real_name")),
        text=text(event.get("text")),
    )


def parse_event(body: bytes) -> UrlVerification | ThreadReply | None:
    """Slack's Events API body: a URL check, a thread reply, or None for what we ignore."""
    payload = _json_object(body)
    kind = payload.get("type")
    if kind == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise SlackRequestError(400, "Malformed url_verification: no challenge.")
        return UrlVerification(challenge=challenge)
    if kind != "event_callback":
        return None
    event = payload.get("event")
    if not isinstance(event, dict):
        raise SlackRequestError(400, "Malformed event_callback: no event object.")
    if event.get("type") != "message":
        return None
    return _thread_reply(payload, event)
