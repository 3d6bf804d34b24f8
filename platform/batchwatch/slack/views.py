"""Slack's request URLs. Thin: verify, parse, hand over, answer fast.

Refusals are documented in docs/slack.md: 401 with a message for a missing, forged or stale
signature; 400 for a malformed payload; 503 when Slack is not configured or the database is
unavailable; otherwise 200, with an ephemeral explanation for people who may not act.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from batchwatch.slack.commands import handle_command
from batchwatch.slack.interactions import handle_block_action
from batchwatch.slack.thread_notes import handle_thread_reply
from batchwatch.slack.wire import (
    SlackRequestError,
    ThreadReply,
    UrlVerification,
    parse_command,
    parse_event,
    parse_interaction,
    verify,
)

logger = logging.getLogger("batchwatch.slack")


def _refused(exc: SlackRequestError) -> JsonResponse:
    logger.info("slack.request_refused", extra={"status": exc.status, "reason": exc.message})
    return JsonResponse({"ok": False, "error": exc.message}, status=exc.status)


def _unavailable(exc: Exception) -> JsonResponse:
    logger.warning("slack.database_unavailable", extra={"error": str(exc)[:200]})
    response = JsonResponse(
        {"ok": False, "error": "Batchwatch is unavailable; try again."}, status=503
    )
    response["Retry-After"] = "5"
    return response


def _verified(request, handle):
    """Verify Slack's signature, then ``handle(body)``; refusals as documented."""
    try:
        verify(request.body, request.headers, now=time.time())
        return handle(request.body)
    except SlackRequestError as exc:
        return _refused(exc)
    except (OperationalError, InterfaceError) as exc:
        return _unavailable(exc)


@csrf_exempt
@require_POST
def interactions(request):
    def handle(body: bytes):
        action = parse_interaction(body)
        if action is not None:
            handle_block_action(action, now=datetime.now(UTC))
        return HttpResponse(status=200)

    return _verified(request, handle)


@csrf_exempt
@require_POST
def commands(request):
    def handle(body: bytes):
        command = parse_command(body)
        return JsonResponse(handle_command(command, now=datetime.now(UTC)))

    return _verified(request, handle)


@csrf_exempt
@require_POST
def events(request):
    """Events API: the URL check when the request URL is saved, then thread replies."""

    def handle(body: bytes):
        event = parse_event(body)
        if isinstance(event, UrlVerification):
            return JsonResponse({"challenge": event.challenge})
        if isinstance(event, ThreadReply):
            outcome = handle_thread_reply(event, now=datetime.now(UTC))
            logger.info(
                "slack.thread_reply",
                extra={
                    "outcome": outcome,
                    "event_id": event.event_id,
                    "retry": request.headers.get("X-Slack-Retry-Num", ""),
                },
            )
        return HttpResponse(status=200)

    return _verified(request, handle)
