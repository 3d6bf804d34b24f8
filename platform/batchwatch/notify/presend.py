"""Checks made just before a notification leaves, so that a page nobody wants any more is
never sent.

Notify sits below alerts and does not read incidents itself: alerts registers its check at
start-up (``AlertsConfig.ready``), as it registers the facts reader (``transports.facts``).
A person's notification rules write their pages ahead of time (SMS at +2 min, a call at
+5 min); an acknowledgement anywhere moves the incident's escalation token on, and the check
then finds the page stale. The outbox marks such a row cancelled with the check's reason and
sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# A check answers a sentence saying why the notification must not be sent, or None.
PreSendCheck = Callable[[Any], str | None]

_checks: list[PreSendCheck] = []


def register(check: PreSendCheck) -> None:
    """Add a check (once: registering the same function again changes nothing)."""
    if check not in _checks:
        _checks.append(check)


def reason_not_to_send(notification: Any) -> str | None:
    """The first registered check's reason to cancel ``notification``; None to send it."""
    for check in _checks:
        reason = check(notification)
        if reason:
            return reason
    return None
