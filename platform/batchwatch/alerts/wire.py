"""Wire formats of alert intake, parsed at the edge into ``AlertEvent``s.

Alertmanager's webhook (payload version 4), PagerDuty's Events API v2 and our generic JSON
webhook all become the same typed events, so dedup and resolve semantics are identical
whichever way an alert arrives. Parsers raise ``IntakeError`` with every problem found.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from django.utils.dateparse import parse_datetime

from batchwatch.core import jsontext

TRIGGER, ACKNOWLEDGE, RESOLVE = "trigger", "acknowledge", "resolve"
# Alertmanager's "not resolved yet" endsAt.
ZERO_TIME_PREFIX = "0001-01-01"
PD_SEVERITIES = ("critical", "error", "warning", "info")
MAX_EVENTS = 10_000
MAX_LABELS = 64
MAX_VALUE = 1024
# Times outside these years (in UTC) are refused: PostgreSQL stores year 10000, but nothing
# can read it back, and an alert from before the epoch is a sender's bug.
MIN_YEAR, MAX_YEAR = 1970, 9999
# Deeper documents are refused (alert payloads are four levels deep): what orjson writes
# (the queue's encoder, and our C check for NUL and surrogates), and a walk's recursion stays
# far from Python's limit.
MAX_DEPTH = 254


class IntakeError(ValueError):
    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or [message]


# slots, not frozen: a storm's webhook builds a hundred events per request, and a frozen
# dataclass sets each field through object.__setattr__ (four times the cost). Nothing
# changes an event once parsed.
@dataclass(slots=True)
class AlertEvent:
    action: str
    labels: dict[str, str]
    fingerprint: str
    annotations: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    severity: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    expires_at: datetime | None = None
    generator_url: str = ""
    links: tuple[dict, ...] = ()


def event_record(event: AlertEvent) -> list:
    """An event in the compact stored form of the intake queue (see ``AlertIntake``); its
    times stay datetimes, which the queue's JSON writes in ISO 8601."""
    return [
        event.action,
        event.labels,
        event.fingerprint,
        event.annotations,
        event.summary,
        event.severity,
        event.starts_at,
        event.ends_at,
        event.expires_at,
        event.generator_url,
        event.links,
    ]


def event_from_record(record: list) -> AlertEvent:
    action, labels, fingerprint, annotations, summary, severity, *times, url, links = record
    starts_at, ends_at, expires_at = (datetime.fromisoformat(t) if t else None for t in times)
    return AlertEvent(
        action=action,
        labels=labels,
        fingerprint=fingerprint,
        annotations=annotations,
        summary=summary,
        severity=severity,
        starts_at=starts_at,
        ends_at=ends_at,
        expires_at=expires_at,
        generator_url=url,
        links=tuple(links),
    )


def label_fingerprint(labels: dict[str, str]) -> str:
    """Identity of a label set: the same labels give the same alert, whichever the order.

    The SHA-256 of ``name\\xfevalue`` pairs in name order, joined by ``\\xff`` (joined in C:
    a storm's webhook fingerprints a hundred label sets per request)."""
    text = "\xff".join(map("\xfe".join, sorted(labels.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json(body: bytes) -> object:
    try:
        data = jsontext.loads(body)
    except RecursionError:
        raise IntakeError(f"the body is nested too deeply; at most {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise IntakeError(f"the body is not valid JSON ({exc})") from exc
    return _clean(data)


def _clean(data: object) -> object:
    """The document with NUL characters removed from its strings and lone surrogates replaced
    by U+FFFD (what Go's JSON decoder, Alertmanager's, does with them), so that what we answer
    2xx for can be stored: PostgreSQL refuses both. A name (an object key) with either is
    refused, as Alertmanager refuses such a label name.

    Checked in C first (orjson refuses a surrogate and a document deeper than 254 levels,
    and writes a NUL as an escape): the walk runs only for a document that needs it."""
    try:
        if b"\\u0000" not in orjson.dumps(data):
            return data
    except orjson.JSONEncodeError:
        pass
    return _scrub(data, 0)


def _scrub(value: object, depth: int) -> object:
    if isinstance(value, str):
        return _text(value)
    if depth >= MAX_DEPTH and isinstance(value, list | dict):
        raise IntakeError(f"the body is nested too deeply; at most {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [_scrub(item, depth + 1) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if _text(key) != key:
                raise IntakeError(
                    f"the name {key[:60]!r} holds a NUL character or a lone surrogate; "
                    "names must be UTF-8 text"
                )
            out[key] = _scrub(item, depth + 1)
        return out
    return value


def _text(value: str) -> str:
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate; a pair of halves becomes its character
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value


def _at(where: str, field: str) -> str:
    return f"{where}.{field}" if field else where


def _string_map(value: object, where: str, errors: list[str], field: str = "") -> dict[str, str]:
    """An object of strings (labels, annotations). ``where`` and ``field`` name it in error
    messages, which are built only when there is an error. Names must be printable and not
    empty (Alertmanager refuses an empty label name; a control character in one is junk)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(f"{_at(where, field)} must be an object of string values")
        return {}
    if len(value) > MAX_LABELS:
        errors.append(f"{_at(where, field)} has {len(value)} entries; at most {MAX_LABELS}")
    else:
        # What senders send: a fresh object of short strings, taken as it is. Joining checks
        # in C that every value is a string, and bounds each value (and name) by the total.
        try:
            names = "".join(value)
            if (
                len("".join(value.values())) <= MAX_VALUE
                and len(names) <= 200
                and names.isprintable()
                and "" not in value
            ):
                return value
        except TypeError:
            pass
    out = {}
    for key, item in value.items():
        if not key or not key.isprintable():
            errors.append(
                f"{_at(where, field)} has the name {key[:60]!r}: names must be printable "
                "text, not empty"
            )
            continue
        if isinstance(item, bool | int | float):
            item = str(item)
        if not isinstance(item, str):
            errors.append(f"{_at(where, field)}.{key} must be a string")
            continue
        out[str(key)[:200]] = item[:MAX_VALUE]
    return out


def _time(
    value: object, where: str, errors: list[str], field: str = "", seen: dict | None = None
) -> datetime | None:
    """An RFC 3339 time, in UTC. ``seen`` remembers the strings read in one payload: the
    alerts of one evaluation share their startsAt."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        errors.append(f"{_at(where, field)} must be an RFC 3339 time string")
        return None
    if seen is not None and (known := seen.get(value)) is not None:
        return known
    if value.startswith(ZERO_TIME_PREFIX):
        return None
    parsed: datetime | None
    try:  # RFC 3339 as senders write it (Python 3.11 reads 'Z' and nanoseconds)...
        parsed = datetime.fromisoformat(value)
    except ValueError:  # ... and Django's more lenient reading for the rest
        try:
            parsed = parse_datetime(value)
        except ValueError:  # well formed, but no such time (month 13, offset +25:00)
            parsed = None
    if parsed is None:
        errors.append(f"{_at(where, field)} is not an RFC 3339 time: {value[:60]!r}")
        return None
    if parsed.tzinfo is None:
        errors.append(f"{_at(where, field)} needs a time zone offset (or Z): {value[:60]!r}")
        return None
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # year 10000 (or 0) once in UTC
        parsed = None
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        errors.append(
            f"{_at(where, field)} is out of range: {value[:60]!r}; times must be within the "
            f"years {MIN_YEAR} to {MAX_YEAR} in UTC"
        )
        return None
    if seen is not None:
        seen[value] = parsed
    return parsed


def _string(value: object, where: str, errors: list[str], limit: int, field: str = "") -> str:
    """An optional string field, cut at ``limit`` characters; another type is an error."""
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append(f"{_at(where, field)} must be a string")
        return ""
    return value[:limit]


def _labels_and_status(raw: object, where: str, errors: list[str], default_status=None):
    """An alert item's labels (its identity) and status; None after recording a problem."""
    if not isinstance(raw, dict):
        errors.append(f"{where} must be an object")
        return None
    labels = _string_map(raw.get("labels"), where, errors, "labels")
    if not labels:
        errors.append(f"{where}.labels must not be empty: labels are the alert's identity")
        return None
    status = raw.get("status", default_status)
    if status not in ("firing", "resolved"):
        errors.append(f"{where}.status must be 'firing' or 'resolved'")
        return None
    return labels, status


def parse_alertmanager(body: bytes, *, now: datetime) -> list[AlertEvent]:
    """Alertmanager's webhook payload (version "4")."""
    data = _json(body)
    if not isinstance(data, dict):
        raise IntakeError("the payload must be a JSON object (Alertmanager webhook, version 4)")
    errors: list[str] = []
    if str(data.get("version", "")) != "4":
        errors.append(f'version must be "4", got {data.get("version")!r}')
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        errors.append("alerts must be a list")
        alerts = []
    if len(alerts) > MAX_EVENTS:
        errors.append(f"{len(alerts)} alerts in one payload; at most {MAX_EVENTS}")
    events = []
    seen: dict[str, datetime] = {}
    for index, raw in enumerate(alerts):
        where = f"alerts[{index}]"
        identity = _labels_and_status(raw, where, errors)
        if identity is None:
            continue
        labels, status = identity
        annotations = _string_map(raw.get("annotations"), where, errors, "annotations")
        ends_at = _time(raw.get("endsAt"), where, errors, "endsAt", seen)
        events.append(
            AlertEvent(
                action=TRIGGER if status == "firing" else RESOLVE,
                labels=labels,
                fingerprint=label_fingerprint(labels),
                annotations=annotations,
                summary=annotations.get("summary") or annotations.get("description", ""),
                severity=labels.get("severity", ""),
                starts_at=_time(raw.get("startsAt"), where, errors, "startsAt", seen),
                ends_at=ends_at if status == "resolved" else None,
                generator_url=_string(raw.get("generatorURL"), where, errors, 2000, "generatorURL"),
            )
        )
    if errors:
        raise IntakeError("the Alertmanager payload is invalid", errors)
    return events


@dataclass(frozen=True)
class PagerDutyEvent:
    routing_key: str
    event: AlertEvent
    dedup_key: str


def parse_pagerduty(body: bytes, *, now: datetime) -> PagerDutyEvent:
    """One PagerDuty Events API v2 event. The dedup key is the alert's identity."""
    data = _json(body)
    if not isinstance(data, dict):
        raise IntakeError("Event object is invalid", ["the body must be a JSON object"])
    errors: list[str] = []
    raw_routing_key = data.get("routing_key")
    routing_key = raw_routing_key if isinstance(raw_routing_key, str) else ""
    if not routing_key:
        errors.append("'routing_key' is missing or blank")
    raw_action = data.get("event_action")
    action = raw_action if isinstance(raw_action, str) else ""
    if action not in (TRIGGER, ACKNOWLEDGE, RESOLVE):
        errors.append("'event_action' must be 'trigger', 'acknowledge' or 'resolve'")
    dedup_key = data.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
        dedup_key = None
    if action in (ACKNOWLEDGE, RESOLVE) and not dedup_key:
        errors.append(f"'dedup_key' is required to {action}")
    labels: dict[str, str] = {}
    summary = severity = ""
    starts_at = None
    custom: dict[str, str] = {}
    if action == TRIGGER:
        summary, severity, starts_at, custom = _pd_trigger_payload(data, labels, errors)
    links = _pd_links(data.get("links"), errors)
    for name in ("client", "client_url"):
        _string(data.get(name), f"'{name}'", errors, 2000)
    if data.get("images") is not None and not isinstance(data["images"], list):
        errors.append("'images' must be a list")
    if errors:
        raise IntakeError("Event object is invalid", errors)
    dedup_key = dedup_key or uuid.uuid4().hex
    event = AlertEvent(
        action=action,
        labels=labels,
        fingerprint=dedup_key,
        annotations={"summary": summary, **custom} if action == TRIGGER else {},
        summary=summary,
        severity=severity,
        starts_at=starts_at,
        generator_url=(data.get("client_url") or "")[:2000],
        links=links,
    )
    return PagerDutyEvent(routing_key=routing_key, event=event, dedup_key=dedup_key)


def _pd_trigger_payload(
    data: dict, labels: dict[str, str], errors: list[str]
) -> tuple[str, str, datetime | None, dict[str, str]]:
    """A trigger's ``payload``: summary, severity, time and custom details (into ``labels``)."""
    payload = data.get("payload")
    if not isinstance(payload, dict):
        errors.append("'payload' is missing or not an object")
        payload = {}
    raw_summary = payload.get("summary")
    summary = raw_summary if isinstance(raw_summary, str) else ""
    if not summary.strip():
        errors.append("'payload.summary' is missing or blank")
        summary = ""
    elif len(summary) > 1024:
        errors.append("'payload.summary' is longer than 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"].strip():
        errors.append("'payload.source' is missing or blank")
    raw_severity = payload.get("severity")
    severity = ""
    if isinstance(raw_severity, str) and raw_severity in PD_SEVERITIES:
        severity = raw_severity
    else:
        errors.append("'payload.severity' must be one of " + ", ".join(PD_SEVERITIES))
    starts_at = _time(payload.get("timestamp"), "payload.timestamp", errors)
    for name in ("source", "component", "group", "class"):
        if value := _string(payload.get(name), "'payload", errors, MAX_VALUE, f"{name}'"):
            labels[name] = value
    custom: dict[str, str] = {}
    details = payload.get("custom_details")
    if details is not None and not isinstance(details, dict):
        details = {"custom_details": details}  # PagerDuty takes any JSON value here
    if details:
        custom = {
            str(k)[:200]: (v if isinstance(v, str) else json.dumps(v))[:MAX_VALUE]
            for k, v in details.items()
        }
        # Details named like routing labels route like labels (team, job, ...).
        for name in ("team", "job", "alertname", "service", "env"):
            if name in custom:
                labels[name] = custom[name]
    labels["severity"] = severity
    labels.setdefault("alertname", summary[:200])
    return summary, severity, starts_at, custom


def _pd_links(value: object, errors: list[str]) -> tuple[dict, ...]:
    """PagerDuty's ``links``: a list of ``{"href", "text"}`` objects."""
    if value is None:
        return ()
    if not isinstance(value, list):
        errors.append('\'links\' must be a list of {"href", "text"} objects')
        return ()
    links = []
    for index, link in enumerate(value[:50]):
        if not isinstance(link, dict):
            errors.append(f"'links[{index}]' must be an object with 'href' and 'text'")
            continue
        links.append(
            {
                "href": _string(link.get("href"), f"'links[{index}].href'", errors, 2000),
                "text": _string(link.get("text"), f"'links[{index}].text'", errors, 200),
            }
        )
    return tuple(links)


def parse_webhook(body: bytes, *, now: datetime) -> list[AlertEvent]:
    """Our generic webhook: ``{"alerts": [...]}`` or one alert object.

    Each alert: ``labels`` (required), ``status`` firing|resolved (default firing),
    ``dedup_key`` (default: the label set), ``summary``, ``severity``, ``annotations``,
    ``starts_at``, ``ends_at`` (a firing alert not refreshed by then resolves), ``url``.
    """
    data = _json(body)
    items = data.get("alerts") if isinstance(data, dict) and "alerts" in data else [data]
    if not isinstance(items, list) or not items:
        raise IntakeError('send an alert object or {"alerts": [...]}')
    if len(items) > MAX_EVENTS:
        raise IntakeError(f"{len(items)} alerts in one payload; at most {MAX_EVENTS}")
    errors: list[str] = []
    events = []
    for index, raw in enumerate(items):
        where = f"alerts[{index}]"
        identity = _labels_and_status(raw, where, errors, default_status="firing")
        if identity is None:
            continue
        labels, status = identity
        dedup_key = raw.get("dedup_key")
        if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key):
            errors.append(f"{where}.dedup_key must be a non-empty string")
            continue
        annotations = _string_map(raw.get("annotations"), where, errors, "annotations")
        summary = _string(raw.get("summary"), where, errors, 500, "summary")
        severity = _string(raw.get("severity"), where, errors, 20, "severity")
        url = _string(raw.get("url"), where, errors, 2000, "url")
        ends_at = _time(raw.get("ends_at"), where, errors, "ends_at")
        events.append(
            AlertEvent(
                action=TRIGGER if status == "firing" else RESOLVE,
                labels=labels,
                fingerprint=(dedup_key or label_fingerprint(labels))[:255],
                annotations=annotations,
                summary=(summary or annotations.get("summary", ""))[:500],
                severity=(severity or labels.get("severity", ""))[:20],
                starts_at=_time(raw.get("starts_at"), where, errors, "starts_at"),
                ends_at=ends_at if status == "resolved" else None,
                expires_at=ends_at if status == "firing" else None,
                generator_url=url,
            )
        )
    if errors:
        raise IntakeError("the alert payload is invalid", errors)
    return events
