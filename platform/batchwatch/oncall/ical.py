"""iCalendar (RFC 5545) feeds of shifts: per rotation and per person.

Calendar apps fetch feeds without our credentials, so each feed URL carries a secret: the
rotation's ``feed_token`` (rotated by ``services.rotation_feed_rotate``), or a person's signed
token (``person_feed_token``), whose signature folds in the person's feed secret
(``accounts.FeedSecret``): rotating the secret invalidates every earlier link.
"""

from __future__ import annotations

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
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


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


def calendar(name: str, events: list[tuple[str, datetime, datetime, str]], now: datetime) -> str:
    """``events``: (uid, start, end, summary)."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Batchwatch//On-call//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(name)}",
    ]
    for uid, start, end, summary in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            f"DTSTAMP:{_stamp(now)}",
            f"DTSTART:{_stamp(start)}",
            f"DTEND:{_stamp(end)}",
            f"SUMMARY:{_escape(summary)}",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
