"""Twilio's webhooks: SMS replies, keypresses on a page's call, and delivery status callbacks.

Thin: every request's ``X-Twilio-Signature`` is checked first (403 with a sentence and nothing
changed when it does not validate), then the form is parsed at the edge (``twilio_wire``) and
handed to ``services.phone_actions``. SMS and voice answer in TwiML, a refusal politely
(200: Twilio reads or sends the answer to the person); status callbacks answer 204.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from batchwatch.alerts import twilio_wire as wire
from batchwatch.alerts.selectors_phone import incident_of_call
from batchwatch.alerts.services.phone_actions import (
    incident_act_by_phone,
    notification_status_record,
)

logger = logging.getLogger("batchwatch.alerts")

TWIML = "text/xml; charset=utf-8"


def _public_url(request) -> str:
    """The URL Twilio called, as it signed it: the public base URL (a proxy in front may
    change the scheme, host or port Django sees), the path and the query."""
    query = request.META.get("QUERY_STRING", "")
    return settings.BATCHWATCH_BASE_URL + request.path_info + (f"?{query}" if query else "")


def _refused(request) -> HttpResponse | None:
    """403 unless the request is Twilio's, signed with our auth token."""
    try:
        wire.twilio_verify(
            url=_public_url(request),
            params=request.POST,
            signature=request.headers.get(wire.SIGNATURE_HEADER),
        )
    except wire.TwilioRequestRefused as exc:
        logger.warning("twilio.refused", extra={"path": request.path_info, "why": exc.message})
        return HttpResponse(exc.message, status=403, content_type="text/plain; charset=utf-8")
    return None


@csrf_exempt  # Twilio signs its requests (checked first); it has no CSRF token
@require_POST
def sms(request):
    """An SMS to our number: ``ACK 123``, ``RES 123`` or ``ESC 123``; answered by SMS."""
    refused = _refused(request)
    if refused is not None:
        return refused
    command = wire.parse_sms(request.POST.get("Body", ""))
    reply = incident_act_by_phone(
        number=request.POST.get("From", ""),
        action=command.action,
        incident_id=command.incident_id,
        channel="sms",
        now=datetime.now(UTC),
        help_text=wire.SMS_HELP,
    )
    return HttpResponse(wire.twiml_message(reply), content_type=TWIML)


@csrf_exempt
@require_POST
def voice(request):
    """The key pressed during a page's call (the ``<Gather>`` action): 1 acknowledge,
    2 escalate, 3 resolve. The incident is the action URL's ``?incident=``, else the one
    the call (``CallSid``) was placed for."""
    refused = _refused(request)
    if refused is not None:
        return refused
    post = request.POST
    command = wire.parse_keypress(post.get("Digits", ""), request.GET.get("incident", ""))
    incident_id = command.incident_id or incident_of_call(post.get("CallSid", ""))
    if incident_id is None:
        return HttpResponse(
            wire.twiml_say("This call is about no incident Batchwatch knows. Goodbye."),
            content_type=TWIML,
        )
    reply = incident_act_by_phone(
        number=wire.caller_number(post),
        action=command.action,
        incident_id=incident_id,
        channel="voice",
        now=datetime.now(UTC),
        help_text=wire.VOICE_UNKNOWN_KEY,
    )
    again = _public_url(request) if reply == wire.VOICE_UNKNOWN_KEY else ""
    return HttpResponse(wire.twiml_say(reply, ask_again_at=again), content_type=TWIML)


@csrf_exempt
@require_POST
def status(request):
    """A message's or a call's status callback (``MessageStatus`` or ``CallStatus``),
    recorded on the notification whose provider id is its SID."""
    refused = _refused(request)
    if refused is not None:
        return refused
    post = request.POST
    sid = post.get("MessageSid", "") or post.get("CallSid", "")
    found = notification_status_record(
        provider_id=sid,
        status=post.get("MessageStatus", "") or post.get("CallStatus", ""),
        error_code=post.get("ErrorCode", ""),
        answered_by=post.get("AnsweredBy", ""),
        now=datetime.now(UTC),
    )
    if not found:
        logger.info("twilio.status_unmatched", extra={"sid": sid[:40]})
    # 204 either way: Twilio retries nothing on a 4xx, and an unknown SID is not its error.
    return HttpResponse(status=204)
