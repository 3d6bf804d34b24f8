"""Pages by SMS and by phone call, through Twilio's REST API (or any provider that speaks it,
at ``BATCHWATCH_TWILIO_BASE_URL``).

SMS: the Messages API (``To``, ``From``, ``Body``, ``StatusCallback``), one short text: the
incident number, its title and the one-time links it carries. Voice: the Calls API with the
TwiML inline (``Twiml``): the incident is read out and a ``<Gather>`` takes one key, posted to
``/integrations/twilio/voice/`` (1 acknowledge, 2 escalate, 3 resolve). Both name the status
callback URL, and ``send`` returns Twilio's SID so that callbacks can be matched to the row.

The ``twilio`` client is used as is, on our HTTP pools (``_PooledHttpClient``): connections
kept alive, the SSRF guard after DNS resolution, the response's headers kept for
``Retry-After``. Twilio's REST API takes no idempotency key: a page whose request reached
Twilio but whose answer was lost (or whose worker died before recording it) is sent again
on retry. That window is one request long; a second SMS is the price of never losing one.

Errors: Twilio's codes for numbers that cannot take the page (21211 invalid, 21610
unsubscribed with STOP, 21614 not a mobile, 30005/30006 unknown or landline), bad
credentials (401/403) and other 4xx are permanent; 429 (20429, too many concurrent requests),
5xx and unreachable are temporary, honouring ``Retry-After``.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from batchwatch.notify.transports.base import TransportError, post, retry_after, temporary_status
from batchwatch.notify.transports.facts import action_links, facts_for, one_line

logger = logging.getLogger("batchwatch.notify")

# The inbound routes (integrations/twilio/): status callbacks of messages and calls, and the
# key pressed during a call.
STATUS_PATH = "/integrations/twilio/status/"
VOICE_PATH = "/integrations/twilio/voice/"

SMS_LENGTH = 160  # one GSM-7 segment
NUMBERS_THAT_CANNOT = frozenset({21211, 21610, 21612, 21614, 30005, 30006})
TEMPORARY_CODES = frozenset({20429, 30001, 30003, 30008})
# The one link an SMS carries (one segment holds one), the first of these the page has.
SMS_ACTIONS = (("acknowledge", "Ack"), ("resolve", "Resolve"))
# Punctuation outside GSM-7 that titles often hold (our own titles join with an em dash): one
# such character makes the whole SMS UCS-2, 70 characters a segment instead of 160.
_GSM_PUNCTUATION = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u00a0": " ",
    }
)


class _PooledHttpClient(HttpClient):
    """Twilio's HTTP client interface on ``base.post``; keeps the last response's headers."""

    def __init__(self) -> None:
        super().__init__(logger, False, settings.BATCHWATCH_OUTBOX_HTTP_TIMEOUT)
        self.last_headers: dict[str, str] = {}

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if method.upper() != "POST":  # (only creates are made here)
            raise TransportError(f"unexpected Twilio request: {method} {uri}", permanent=True)
        sent = dict(headers or {})
        if auth:
            pair = f"{auth[0]}:{auth[1]}".encode()
            sent["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        url = uri + ("?" + urlencode(params, doseq=True) if params else "")
        body = urlencode(data or {}, doseq=True).encode()
        response = post(url, body=body, headers=sent, what="Twilio")
        self.last_headers = dict(response.headers)
        return Response(response.status, response.data.decode("utf-8", "replace"), response.headers)


def _client() -> tuple[Client, _PooledHttpClient]:
    sid, token = settings.BATCHWATCH_TWILIO_ACCOUNT_SID, settings.BATCHWATCH_TWILIO_AUTH_TOKEN
    if not (sid and token and settings.BATCHWATCH_TWILIO_FROM):
        raise TransportError(
            "Twilio is not configured (BATCHWATCH_TWILIO_ACCOUNT_SID, _AUTH_TOKEN and _FROM)",
            permanent=True,
            breaks_channel=False,
        )
    http_client = _PooledHttpClient()
    client = Client(sid, token, http_client=http_client)
    # A region or edge (TWILIO_REGION / TWILIO_EDGE in the environment) rewrites the host:
    # the base URL the operator chose is where requests go.
    client.edge = client.region = None
    client.api.base_url = settings.BATCHWATCH_TWILIO_BASE_URL
    return client, http_client


def _error(exc: TwilioRestException, headers: dict[str, str]) -> TransportError:
    code = exc.code if isinstance(exc.code, int) and exc.code != exc.status else None
    text = f"Twilio HTTP {exc.status}" + (f", error {code}" if code else "") + f": {exc.msg}"
    if code in TEMPORARY_CODES or temporary_status(exc.status):
        return TransportError(text, retry_after=retry_after(headers.get("Retry-After")))
    # A number that cannot take pages is the contact method's problem, not the channel's.
    return TransportError(text, permanent=True, breaks_channel=code not in NUMBERS_THAT_CANNOT)


def _status_callback() -> str:
    return settings.BATCHWATCH_BASE_URL + STATUS_PATH


def sms_body(notification) -> str:
    """One SMS (160 characters when the title allows): number, title, and a one-time link
    (acknowledge, else resolve) or the incident's address."""
    facts = facts_for(notification)
    links = action_links(notification)
    label, url = next(((lbl, links[n]) for n, lbl in SMS_ACTIONS if n in links), ("", facts.url))
    tail = f"\n{label}: {url}" if label else (f"\n{url}" if url else "")
    head = f"Batchwatch #{facts.number} " if facts.number else "Batchwatch: "
    room = max(SMS_LENGTH - len(head) - len(tail), 40)
    return head + one_line(facts.title.translate(_GSM_PUNCTUATION), room) + tail


def send_sms(notification) -> str:
    client, http_client = _client()
    try:
        message = client.messages.create(
            to=notification.address,
            from_=settings.BATCHWATCH_TWILIO_FROM,
            body=sms_body(notification),
            status_callback=_status_callback(),
        )
    except TwilioRestException as exc:
        raise _error(exc, http_client.last_headers) from exc
    return str(message.sid)


def call_twiml(notification) -> str:
    """What the call says: the incident read out twice, waiting for one key each time."""
    facts = facts_for(notification)
    number = f"Incident {facts.number}. " if facts.number else ""
    state = "" if facts.state == "triggered" else f"It is {facts.state}. "
    text = (
        f"Batchwatch page. {number}{one_line(facts.title, 300)}. {state}"
        "Press 1 to acknowledge, 2 to escalate, 3 to resolve."
    )
    # The incident rides in the action URL (signed with it by Twilio), so a key pressed before
    # the call's SID is stored on the notification still finds its incident.
    action = settings.BATCHWATCH_BASE_URL + VOICE_PATH
    if facts.number:
        action += f"?incident={facts.number}"
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action, method="POST", timeout=8)
    gather.say(text, loop=2)  # (escaped: VoiceResponse builds the XML)
    response.say("No key was pressed. Goodbye.")
    response.hangup()
    return str(response)


def send_voice(notification) -> str:
    client, http_client = _client()
    options: dict[str, Any] = {
        "status_callback": _status_callback(),
        "status_callback_event": ["initiated", "ringing", "answered", "completed"],
    }
    try:
        call = client.calls.create(
            to=notification.address,
            from_=settings.BATCHWATCH_TWILIO_FROM,
            twiml=call_twiml(notification),
            **options,
        )
    except TwilioRestException as exc:
        raise _error(exc, http_client.last_headers) from exc
    return str(call.sid)
