"""What the queued intake drain cannot process goes to quarantine, one alert at a time.

The edge validates what it answers 2xx for, so a batch that fails in the drain is a bug or
a row written by hand, not bad input; still, it must never hold up the batches behind it,
nor take the good alerts of its own batch down with it. The drain asks this module to:

- read a batch's stored events one by one (:func:`batch_events`): a record that cannot be
  read back is quarantined (``undecodable``) and the others go on;
- salvage a batch whose processing failed (:func:`batch_salvage`): each alert alone, in a
  savepoint; those that fail again are quarantined (``processing_error``).

A quarantined alert keeps what :func:`quarantine_retry` needs to process it again (its
source, integration and stored record): ``manage.py quarantine retry`` sends it through
``alerts_receive`` as of the retry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from django.db import InterfaceError, OperationalError, transaction

from batchwatch.alerts.models import AlertIntake, Integration
from batchwatch.alerts.services.receive import alerts_receive
from batchwatch.alerts.wire import AlertEvent, event_from_record, event_record
from batchwatch.core.quarantine import quarantine_add, register_retry

logger = logging.getLogger("batchwatch.alerts")

KIND = "alert_intake"


def _payload(item: AlertIntake, record: object) -> dict:
    return {"source": item.source, "integration_id": item.integration_id, "events": [record]}


def _quarantine(item: AlertIntake, record: object, reason: str, exc: Exception, now) -> None:
    quarantine_add(
        kind=KIND,
        reason=reason,
        detail=f"{type(exc).__name__}: {exc}",
        payload=_payload(item, record),
        received_at=item.received_at,
        now=now,
        origin=f"AlertIntake {item.pk} ({item.source})",
    )


def batch_events(item: AlertIntake, now: datetime) -> list[AlertEvent]:
    """The events of a queued batch; a record that cannot be read back is quarantined."""
    records = item.events if isinstance(item.events, list) else [item.events]
    events = []
    for record in records:
        try:
            event = event_from_record(record)
            if not isinstance(event.fingerprint, str) or not isinstance(event.labels, dict):
                raise TypeError("the fingerprint must be a string and the labels an object")
            events.append(event)
        except Exception as exc:  # any shape a hand-written or older row may have
            _quarantine(item, record, "undecodable", exc, now)
    return events


def batch_salvage(
    item: AlertIntake,
    events: Sequence[AlertEvent],
    receive: Callable[[AlertIntake, list[AlertEvent]], None],
    now: datetime,
) -> tuple[int, int]:
    """Process a failed batch's alerts one by one; returns (processed, quarantined).

    Each alert is a savepoint of the drain's transaction: one that fails rolls back alone.
    An unavailable database is nobody's fault: it propagates and the drain rolls back.
    """
    processed = quarantined = 0
    for event in events:
        try:
            with transaction.atomic():
                receive(item, [event])
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            logger.warning(
                "alerts.intake_alert_quarantined",
                extra={"batch": item.pk, "fingerprint": str(event.fingerprint)[:64]},
            )
            _quarantine(item, event_record(event), "processing_error", exc, now)
            quarantined += 1
            continue
        processed += 1
    return processed, quarantined


def retry(payload: object, received_at: datetime, now: datetime) -> None:
    """The retry handler of ``alert_intake`` items: process the alert again, as of now."""
    if not isinstance(payload, dict):
        raise ValueError("the quarantined item holds no alert intake")
    integration = None
    if payload.get("integration_id") is not None:
        integration = (
            Integration.objects.select_related("team").filter(pk=payload["integration_id"]).first()
        )
    alerts_receive(
        events=[event_from_record(record) for record in payload["events"]],
        source=payload["source"],
        integration=integration,
        now=now,
    )


register_retry(KIND, retry)
