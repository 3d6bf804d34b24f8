"""A local stand-in for Twilio's REST API (a real HTTP server; not Twilio).

It serves what Batchwatch's SMS and voice transports call, as Twilio documents them:
``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form fields ``To``, ``From``,
``Body`` ≤ 1,600 characters, ``StatusCallback``) and ``.../Calls.json`` (``To``, ``From``,
``Url`` xor ``Twiml``, ``StatusCallback``, ``StatusCallbackEvent``), with HTTP Basic auth
(account SID and auth token; 401 and error 20003 otherwise). A create answers 201 with the
resource's JSON (``sid`` ``SM…``/``CA…``, ``status`` "queued"); errors answer Twilio's JSON
(``code``, ``message``, ``more_info``, ``status``): 21211 for a ``To`` that is not E.164,
21610 for a number that replied STOP, 21602 for no body, 21617 for a body too long. It can
be told to lose the answer of the next creates (``lose_answers``: made, then 502).

It also plays Twilio calling back: ``status_callback(sid, status)`` POSTs the documented
parameters (``MessageSid``/``MessageStatus`` or ``CallSid``/``CallStatus``) to the URL the
create named, signed with ``X-Twilio-Signature`` as Twilio signs (``RequestValidator``);
``press(sid, digit)`` posts a keypress to the call's ``<Gather action>``. ``signed(url,
params)`` gives the headers of any signed request (for Django's test client).
"""

from __future__ import annotations

import html
import itertools
import re
import urllib.error
import urllib.request
from base64 import b64encode
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from twilio.request_validator import RequestValidator

from tests.notify.stand_in import Answer, Request, StandIn

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-twilio-auth-token"
FROM = "+15005550006"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/(?P<kind>Messages|Calls)\.json$")


def error(status: int, code: int, message: str) -> Answer:
    return Answer(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


@dataclass
class Created:
    kind: str  # "Messages" or "Calls"
    sid: str
    params: dict[str, list[str]]

    def get(self, name: str) -> str:
        return (self.params.get(name) or [""])[0]


@dataclass
class FakeTwilio(StandIn):
    unsubscribed: set[str] = field(default_factory=set)
    created: list[Created] = field(default_factory=list)
    # The next creates are made, but their answer is lost (a 502 from a proxy in between).
    lose_answers: int = 0

    def __post_init__(self):
        self._serial = itertools.count(1)
        StandIn.__init__(self)

    @property
    def messages(self) -> list[Created]:
        return [c for c in self.created if c.kind == "Messages"]

    @property
    def calls(self) -> list[Created]:
        return [c for c in self.created if c.kind == "Calls"]

    # --- the REST API ------------------------------------------------------------------
    def answer(self, request: Request) -> Answer:
        match = _PATH.match(request.path)
        if request.method != "POST" or match is None:
            return error(404, 20404, "The requested resource was not found")
        expected = "Basic " + b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected or match["sid"] != ACCOUNT_SID:
            return error(401, 20003, "Authenticate")
        params = parse_qs(request.body.decode(), keep_blank_values=True)
        kind = match["kind"]
        to = (params.get("To") or [""])[0]
        if not E164.match(to):
            return error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not (params.get("From") or [""])[0]:
            return error(400, 21603, "A 'From' phone number is required.")
        if to in self.unsubscribed:
            return error(400, 21610, "Attempt to send to unsubscribed recipient")
        if kind == "Messages":
            body = (params.get("Body") or [""])[0]
            if not body:
                return error(400, 21602, "Message body is required.")
            if len(body) > 1600:
                return error(400, 21617, "The concatenated message body exceeds the 1600 limit")
        elif bool(params.get("Url")) == bool(params.get("Twiml")):
            return error(400, 21205, "Either Url or Twiml is required, not both.")
        prefix = "SM" if kind == "Messages" else "CA"
        sid = prefix + f"{next(self._serial):032x}"
        self.created.append(Created(kind, sid, params))
        if self.lose_answers:
            self.lose_answers -= 1
            return Answer(502, b"Bad Gateway")
        resource = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "to": to,
            "from": params["From"][0],
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": "Wed, 25 Nov 2026 02:00:00 +0000",
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/{kind}/{sid}.json",
        }
        if kind == "Messages":
            resource.update(body=params["Body"][0], num_segments="1", error_code=None)
        return Answer(201, resource)

    # --- Twilio calling back -----------------------------------------------------------
    def signed(self, url: str, params: dict[str, str]) -> dict[str, str]:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
        return {"X-Twilio-Signature": signature}

    def post_signed(self, url: str, params: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(
            url,
            data=urlencode(params).encode(),
            headers={**self.signed(url, params), "User-Agent": "TwilioProxy/1.1"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def callback_params(self, sid: str, status: str, **extra: str) -> tuple[str, dict]:
        """The status callback Twilio would POST for ``sid``: (URL, parameters)."""
        found = next(c for c in self.created if c.sid == sid)
        common = {"AccountSid": ACCOUNT_SID, "From": found.get("From"), "To": found.get("To")}
        if found.kind == "Messages":
            params = {**common, "MessageSid": sid, "SmsSid": sid, "MessageStatus": status}
        else:
            params = {**common, "CallSid": sid, "CallStatus": status, "Direction": "outbound-api"}
        return found.get("StatusCallback"), {**params, **extra}

    def status_callback(self, sid: str, status: str, **extra: str) -> tuple[int, bytes]:
        url, params = self.callback_params(sid, status, **extra)
        return self.post_signed(url, params)

    def gather_action(self, sid: str) -> str:
        """Where the call's TwiML sends the key pressed (``<Gather action>``)."""
        twiml = next(c for c in self.calls if c.sid == sid).get("Twiml")
        gather = re.search(r'<Gather [^>]*action="([^"]+)"', twiml)
        assert gather is not None, twiml
        return html.unescape(gather.group(1))

    def press(self, sid: str, digit: str) -> tuple[int, bytes]:
        found = next(c for c in self.calls if c.sid == sid)
        params = {
            "AccountSid": ACCOUNT_SID,
            "CallSid": sid,
            "From": found.get("From"),
            "To": found.get("To"),
            "Digits": digit,
            "CallStatus": "in-progress",
        }
        return self.post_signed(self.gather_action(sid), params)
