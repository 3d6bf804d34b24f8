"""Twilio's inbound webhooks at the edge: the signature, the commands people send, TwiML back.

* ``X-Twilio-Signature`` is base64(HMAC-SHA1(auth token, the URL Twilio called, query
  included, followed by every POST parameter's name and value sorted by name)); checked with
  the ``twilio`` package's ``RequestValidator`` over the public URL (``BATCHWATCH_BASE_URL``
  and the path and query, as a proxy in front may have changed the host or scheme).
* An SMS reply is ``ACK 123``, ``RES 123`` or ``ESC 123`` (any case, ``#`` allowed): the
  action and the incident's number. A keypress during a call is ``Digits``: 1 acknowledge,
  2 escalate, 3 resolve.
* Answers are TwiML built by the ``twilio`` package (which escapes the text).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from batchwatch.alerts.services.channel_actions import ACKNOWLEDGE, ESCALATE, RESOLVE
from batchwatch.core.numbers import parse_id

SIGNATURE_HEADER = "X-Twilio-Signature"
SMS_WORDS = {"ACK": ACKNOWLEDGE, "RES": RESOLVE, "ESC": ESCALATE}
DIGITS = {"1": ACKNOWLEDGE, "2": ESCALATE, "3": RESOLVE}
_SMS = re.compile(r"\s*(?P<word>[A-Za-z]{3})\s*#?\s*(?P<number>[0-9]{1,18})\s*[.!]?\s*")
SMS_HELP = (
    "Reply ACK <number> to acknowledge, RES <number> to resolve or ESC <number> to escalate "
    "(e.g. ACK 123). Nothing was changed."
)
VOICE_MENU = "Press 1 to acknowledge, 2 to escalate, 3 to resolve."
VOICE_UNKNOWN_KEY = "That key does nothing."


class TwilioRequestRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def twilio_verify(*, url: str, params: Mapping[str, object], signature: str | None) -> None:
    """Raise ``TwilioRequestRefused`` unless ``signature`` signs ``url`` and ``params`` with
    ``BATCHWATCH_TWILIO_AUTH_TOKEN``. Without a token nothing is accepted: an empty key would
    let anyone sign."""
    token = settings.BATCHWATCH_TWILIO_AUTH_TOKEN
    if not token:
        raise TwilioRequestRefused(
            "Twilio is not configured here (BATCHWATCH_TWILIO_AUTH_TOKEN): nothing was changed."
        )
    if not signature:
        raise TwilioRequestRefused(f"Missing {SIGNATURE_HEADER}: nothing was changed.")
    if not RequestValidator(token).validate(url, params, signature):
        raise TwilioRequestRefused(
            f"Invalid {SIGNATURE_HEADER} for {url}: nothing was changed. (Behind a proxy, "
            "BATCHWATCH_BASE_URL must be the address Twilio calls.)"
        )


@dataclass(frozen=True)
class PhoneCommand:
    """What a person asked by SMS or keypress: an action (``None``: not understood) and the
    incident's number (``None``: none given)."""

    action: str | None
    incident_id: int | None


def parse_sms(body: str) -> PhoneCommand:
    match = _SMS.fullmatch(body or "")
    number = parse_id(match["number"]) if match is not None else None
    if match is None or number is None or match["word"].upper() not in SMS_WORDS:
        return PhoneCommand(None, None)
    return PhoneCommand(SMS_WORDS[match["word"].upper()], number)


def parse_keypress(digits: str, incident: str) -> PhoneCommand:
    """``Digits`` of a ``<Gather>`` and the ``incident`` of its action URL's query."""
    return PhoneCommand(DIGITS.get((digits or "").strip()), parse_id(incident or ""))


def caller_number(params: Mapping[str, str]) -> str:
    """The person's number: ``From`` of an SMS or of a call they placed; ``To`` of a call
    Batchwatch placed to them (``Direction`` ``outbound-api``: ``From`` is our number)."""
    if params.get("Direction", "").startswith("outbound"):
        return params.get("To", "")
    return params.get("From", "")


def twiml_message(text: str) -> str:
    response = MessagingResponse()
    response.message(text)
    return str(response)


def twiml_say(text: str, *, ask_again_at: str = "") -> str:
    """Say ``text`` and hang up; with ``ask_again_at``, then offer the menu once more, its
    key posted there."""
    response = VoiceResponse()
    response.say(text)
    if ask_again_at:
        gather = response.gather(num_digits=1, action=ask_again_at, method="POST", timeout=8)
        gather.say(VOICE_MENU)
        response.say("No key was pressed. Goodbye.")
    response.hangup()
    return str(response)
