"""iCalendar (RFC 5545) feeds of shifts: per rotation and per person.

Calendar apps fetch feeds without our credentials, so each feed URL carries a secret: the
rotation's ``feed_token`` (rotated by ``services.rotation_feed_rotate``), or a person's signed
token (``person_feed_token``), whose signature folds in the person's feed secret
(``accounts.FeedSecret``): rotating the secret invalidates every earlier link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing

from batchwatch.accounts.selectors import feed_secret_of

_SALT = "batchwatch.oncall.person-feed"


def _signer(user_id: int) -> signing.Signer:
    # Before a person's first rotation the secret is '' and the salt is the one links were
    # signed with before secrets existed, so those links keep working until then.
    return signing.Signer(salt=_SALT + feed_secret_of(user_id))


def person_feed_token(user: AbstractBaseUser) -> str:
    return _signer(user.pk).sign(str(user.pk)).split(":", 1)[1]


def person_from_token(user_id: int, token: str) -> bool:
    try:
        _signer(user_id).unsign(f"{user_id}:{token}")
    except signing.BadSignature:
        return False
    return True


def _escape(text: str) -> str:
    text = text.replace("\r", "").replace("\\", "\\\\")
    return text.replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    """Lines longer than 75 octets are folded (RFC 5545 3.1)."""
    out, raw = [], line.encode()
    while len(raw) > 75:
        cut = 75
        while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # do not split a UTF-8 character
            cut -= 1
        out.append(raw[:cut].decode())
        raw = b" " + raw[cut:]
    out.append(raw.decode())
    return "\r\n".join(out)


@dataclass(frozen=True)
class Event:
    """One VEVENT. ``uid`` and ``sequence`` let a calendar app follow the event across
    fetches (``oncall.feeds``); ``changed_at`` is its LAST-MODIFIED."""

    uid: str
    starts_at: datetime
    ends_at: datetime
    summary: str
    sequence: int = 0
    changed_at: datetime | None = None
    description: str = ""
    url: str = ""


def calendar(name: str, events: list[Event], now: datetime) -> str:
    """A VCALENDAR of ``events``, times in UTC. DTSTAMP is ``now``: with METHOD:PUBLISH it is
    when this copy of the calendar was made (RFC 5545 3.8.7.2), so only it differs between two
    fetches of an unchanged schedule."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Batchwatch//On-call//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
        "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
        "X-PUBLISHED-TTL:PT1H",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"SEQUENCE:{event.sequence}",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(event.starts_at)}",
            f"DTEND:{_stamp(event.ends_at)}",
            f"SUMMARY:{_escape(event.summary)}",
        ]
        if event.changed_at is not None:
            lines.append(f"LAST-MODIFIED:{_stamp(event.changed_at)}")
        if event.description:
            lines.append(f"DESCRIPTION:{_escape(event.description)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
