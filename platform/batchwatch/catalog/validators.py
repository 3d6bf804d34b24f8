"""Validation shared by the models, admin, the API and YAML loading."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

from croniter import croniter
from django.core.exceptions import ValidationError

# \Z, not $: "$" also matches before a final newline, so "name\n" would pass.
LABEL_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,62}\Z")
SLACK_CHANNEL_RE = re.compile(r"^(#[a-z0-9][a-z0-9._\-]{0,79}|[CG][A-Z0-9]{8,})\Z")
NO_SPACE_RE = re.compile(r"^\S+\Z")


def validate_cron(expression: str) -> None:
    """Five-field cron (minute hour day-of-month month day-of-week), as Airflow and k8s use."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValidationError(
            "%(expr)r is not a cron expression: it needs 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '30 2 * * *'.",
            code="invalid_cron",
            params={"expr": expression},
        )
    if not croniter.is_valid(expression):
        raise ValidationError(
            "%(expr)r is not a valid cron expression.",
            code="invalid_cron",
            params={"expr": expression},
        )


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(name: str) -> None:
    if name not in _known_zones():
        raise ValidationError(
            "%(zone)r is not an IANA time zone; use a name like 'Europe/London' or "
            "'America/New_York'.",
            code="unknown_timezone",
            params={"zone": name},
        )


def validate_labels(value: object) -> None:
    """Labels are a flat mapping of short keys to strings, like Prometheus labels."""
    if not isinstance(value, dict):
        raise ValidationError("Labels must be an object of key: value strings.", code="labels")
    for key, item in value.items():
        if not isinstance(key, str) or not LABEL_KEY_RE.fullmatch(key) or "__" in key:
            raise ValidationError(
                "Label key %(key)r must start with a letter or _, contain only letters, "
                "digits, _ . -, no '__', at most 63 characters.",
                code="label_key",
                params={"key": key},
            )
        if not isinstance(item, str) or len(item) > 200:
            raise ValidationError(
                "Label %(key)r must have a string value of at most 200 characters.",
                code="label_value",
                params={"key": key},
            )


def validate_no_whitespace(value: str) -> None:
    if not NO_SPACE_RE.fullmatch(value):
        raise ValidationError("Must not be empty or contain spaces.", code="whitespace")


def validate_slack_channel(value: str) -> None:
    if not SLACK_CHANNEL_RE.fullmatch(value):
        raise ValidationError(
            "%(value)r is not a Slack channel: use '#channel-name' (lower case) or a channel ID "
            "like 'C0123456789'.",
            code="slack_channel",
            params={"value": value},
        )
