"""The silence form's input: matcher rows, times in the author's zone, and errors per field.

A draft keeps exactly what was typed, so a refused form comes back as it was sent with the
error next to its field; only a valid draft becomes matchers and UTC times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.http import QueryDict

from batchwatch.alerts.matchers import OPERATORS, parse_matcher
from batchwatch.alerts.selectors_silences import matcher_text
from batchwatch.catalog.validators import validate_timezone

DEFAULT_HOURS = "2"
MAX_HOURS = 24 * 14
MAX_ROWS = 50
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.]*")


@dataclass
class MatcherRow:
    name: str = ""
    op: str = "="
    value: str = ""
    error: str = ""

    @property
    def blank(self) -> bool:
        return not self.name.strip() and not self.value


@dataclass
class SilenceDraft:
    rows: list[MatcherRow] = field(default_factory=list)
    text: str = ""  # matchers pasted as text, one per line
    team: str = ""
    tz: str = "UTC"
    starts_at: str = ""  # as typed: a datetime-local value in ``tz``; blank is now
    ends_at: str = ""  # blank is starts_at + hours
    hours: str = DEFAULT_HOURS
    comment: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def fresh(self) -> bool:
        """Nothing typed yet but the matchers (a new form, or one a page prefilled)."""
        return not (self.starts_at or self.ends_at or self.comment or self.errors)

    def add_error(self, key: str, message: str) -> None:
        self.errors[key] = f"{self.errors[key]} {message}" if key in self.errors else message


def _zone(name: str) -> str:
    try:
        validate_timezone(name)
    except ValidationError:
        return "UTC"
    return name


def draft_from_query(query: QueryDict) -> SilenceDraft:
    """A new form prefilled by "Silence this": ``?matcher=job="x"&matcher=...`` (a matcher
    that does not parse is kept as text, with its error)."""
    draft = SilenceDraft(team=query.get("team", ""), comment=query.get("comment", ""))
    for text in query.getlist("matcher")[:MAX_ROWS]:
        try:
            parsed = parse_matcher(text)
        except ValueError as exc:
            draft.text += text + "\n"
            draft.add_error("matchers", str(exc))
            continue
        draft.rows.append(MatcherRow(parsed.name, parsed.op, parsed.value))
    return draft


def draft_from_post(post: QueryDict) -> SilenceDraft:
    names, ops, values = post.getlist("m_name"), post.getlist("m_op"), post.getlist("m_value")
    rows = [
        MatcherRow(
            name.strip(), ops[i] if i < len(ops) else "=", values[i] if i < len(values) else ""
        )
        for i, name in enumerate(names[:MAX_ROWS])
    ]
    return SilenceDraft(
        rows=[row for row in rows if not row.blank],
        text=post.get("matchers", ""),
        team=post.get("team", ""),
        tz=_zone(post.get("tz", "UTC")),
        starts_at=post.get("starts_at", "").strip(),
        ends_at=post.get("ends_at", "").strip(),
        hours=post.get("hours", "").strip(),
        comment=post.get("comment", ""),
    )


def draft_matchers(draft: SilenceDraft) -> list[str]:
    """The draft's matchers as text (rows, then pasted lines); errors go on the row or on
    ``matchers``."""
    matchers = []
    for row in draft.rows:
        text = matcher_text(row.name, row.op, row.value)
        if not LABEL_NAME.fullmatch(row.name):
            row.error = "A label is a letter or _, then letters, digits, _ or . (like job or team)."
        elif row.op not in OPERATORS:
            row.error = f"Choose one of {', '.join(OPERATORS)}."
        else:
            try:
                parse_matcher(text)
            except ValueError as exc:  # the row says which matcher: the sentence need not
                sentence = str(exc).removeprefix(f"{text!r}: ")
                row.error = sentence[:1].upper() + sentence[1:]
                continue
            matchers.append(text)
    for line in draft.text.splitlines():
        if line.strip():
            try:
                matchers.append(str(parse_matcher(line.strip())))
            except ValueError as exc:
                draft.add_error("matchers", str(exc))
    if any(row.error for row in draft.rows):
        draft.add_error("matchers", "Correct the matchers marked below.")
    return matchers


def _local(value: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=zone).astimezone(UTC)


def draft_times(draft: SilenceDraft, *, now: datetime) -> tuple[datetime, datetime] | None:
    """When the silence starts and ends (UTC), from times in the draft's zone; None (and
    errors on the fields) when they cannot be read or the end is not after the start."""
    zone = ZoneInfo(draft.tz)
    starts_at, ends_at = now, None
    if draft.starts_at:
        try:
            starts_at = _local(draft.starts_at, zone)
        except (ValueError, OverflowError):
            draft.add_error("starts_at", "Give a date and time, like 2026-11-24T21:30.")
    if draft.ends_at:
        try:
            ends_at = _local(draft.ends_at, zone)
        except (ValueError, OverflowError):
            draft.add_error("ends_at", "Give a date and time, like 2026-11-24T23:30.")
    else:
        try:
            hours = float(draft.hours)
        except ValueError:
            hours = 0.0
        if not 0 < hours <= MAX_HOURS:
            draft.add_error("ends_at", f"Give an end, or a duration of at most {MAX_HOURS} hours.")
        else:
            try:
                ends_at = starts_at + timedelta(hours=hours)
            except OverflowError:
                draft.add_error("ends_at", "That is past the end of time.")
    if ends_at is not None and "starts_at" not in draft.errors and ends_at <= starts_at:
        draft.add_error("ends_at", "The end must be after the start.")
    if draft.errors.keys() & {"starts_at", "ends_at"} or ends_at is None:
        return None
    return starts_at, ends_at
