"""Alert intake over HTTP: Alertmanager webhooks, PagerDuty Events v2, a generic webhook.

Thin: authenticate the integration, parse the wire format into ``AlertEvent``s, and either
process them (``services.alerts_receive``, inline intake) or queue them for the intake drain
(``services.alerts_accept``, queued intake: ``BATCHWATCH_ALERT_INTAKE``). Errors are JSON with
a message (400/401/413/415), and an unavailable database is 503 with Retry-After so that
senders retry and nothing is lost. Wrong tokens are counted per client address: past
``BATCHWATCH_BAD_CREDENTIAL_LIMIT`` the address gets 429 with Retry-After (a valid token never).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from batchwatch.alerts import wire
from batchwatch.alerts.models import Integration
from batchwatch.alerts.services import alerts_accept, alerts_receive, integration_for_token
from batchwatch.core import ratelimit
from batchwatch.core.body import read_body
from batchwatch.core.errors import RequestError

logger = logging.getLogger("batchwatch.alerts")


def _bearer(request) -> str:
    scheme, _, raw = request.headers.get("Authorization", "").strip().partition(" ")
    return raw.strip() if scheme.lower() == "bearer" else ""


def _error(status: int, message: str, errors=None, retry_after: int | None = None):
    response = JsonResponse(
        {"status": "error", "message": message, "errors": errors or [message]}, status=status
    )
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


def _receive(request, kind: str, parse, token: str | None):
    now = datetime.now(UTC)
    try:
        integration = integration_for_token(token or _bearer(request), kind=kind)
        if integration is None:
            ratelimit.note_failure("integration_token", request)  # may raise Throttled
            return _error(
                401,
                "Unknown or revoked integration token: send 'Authorization: Bearer <token>' "
                "(Alertmanager: http_config.authorization.credentials) or use the token URL.",
            )
        events = parse(read_body(request), now=now)
        if _queued():
            alerts_accept(
                events=events, source=integration.source, integration=integration, now=now
            )
            return JsonResponse({"status": "success", "received": len(events), "queued": True})
        result = alerts_receive(
            events=events, source=integration.source, integration=integration, now=now
        )
    except ratelimit.Throttled as exc:
        return _error(429, str(exc), retry_after=exc.retry_after)
    except RequestError as exc:
        return _error(exc.status, exc.message)
    except wire.IntakeError as exc:
        return _error(400, exc.message, exc.errors)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("alerts.database_unavailable", extra={"error": str(exc)[:200]})
        return _error(503, "The database is unavailable; retry shortly.", retry_after=5)
    return JsonResponse(
        {
            "status": "success",
            "received": result.received,
            "new": result.new,
            "resolved": result.resolved,
            "suppressed": result.suppressed,
            "incidents_opened": result.incidents_opened,
        }
    )


def _queued() -> bool:
    return settings.BATCHWATCH_ALERT_INTAKE == "queued"


@csrf_exempt
@require_POST
def alertmanager(request, token: str | None = None):
    """Alertmanager's webhook_config target (payload version 4)."""
    return _receive(request, Integration.Kind.ALERTMANAGER, wire.parse_alertmanager, token)


@csrf_exempt
@require_POST
def webhook(request, token: str | None = None):
    """The generic JSON webhook (see ``wire.parse_webhook``)."""
    return _receive(request, Integration.Kind.WEBHOOK, wire.parse_webhook, token)


def _pd_invalid(errors: list[str], status: int = 400) -> JsonResponse:
    return JsonResponse(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
        status=status,
    )


@csrf_exempt
@require_POST
def pagerduty_enqueue(request):
    """PagerDuty Events API v2: ``routing_key`` is the integration's token; replies as PD."""
    now = datetime.now(UTC)
    try:
        parsed = wire.parse_pagerduty(read_body(request), now=now)
        integration = integration_for_token(parsed.routing_key, kind=Integration.Kind.PAGERDUTY)
        if integration is None:
            ratelimit.note_failure("integration_token", request)  # may raise Throttled
            return _pd_invalid(["Invalid routing key"])
        # PagerDuty itself answers 202 once an event is queued, as queued intake does.
        receive = alerts_accept if _queued() else alerts_receive
        receive(events=[parsed.event], source=integration.source, integration=integration, now=now)
    except ratelimit.Throttled as exc:
        # PagerDuty answers 429 when a sender goes too fast; its senders retry it later.
        response = JsonResponse(
            {"status": "throttled", "message": str(exc), "errors": [str(exc)]}, status=429
        )
        response["Retry-After"] = str(exc.retry_after)
        return response
    except RequestError as exc:
        return _pd_invalid([exc.message], exc.status)
    except wire.IntakeError as exc:
        return _pd_invalid(exc.errors)
    except (OperationalError, InterfaceError) as exc:
        logger.warning("alerts.database_unavailable", extra={"error": str(exc)[:200]})
        response = JsonResponse({"status": "error", "message": "Retry shortly"}, status=503)
        response["Retry-After"] = "5"
        return response
    return JsonResponse(
        {"status": "success", "message": "Event processed", "dedup_key": parsed.dedup_key},
        status=202,
    )
