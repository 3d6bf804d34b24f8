"""Helpers of the paging transport tests: an incident to page about, a page in the outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction

from batchwatch.alerts.models import Incident
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import Recipient, deliver_due, notification_enqueue
from tests.alerts.conftest import firing, receive

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
# Markdown a card would render, a Teams mention, a line break, a list marker, a terminal
# escape and a bell (no NUL: PostgreSQL text cannot hold one).
HOSTILE_JOB = (
    "[Sign in](https://evil.example/login) <at>everyone</at> **now**\n- item\r\x1b[2Jx\x07"
)


def open_incident(job: str = "airflow/ledger/nightly") -> Incident:
    """An incident as alerts opens it (needs the ``route_tree`` fixture), its own pages
    (to the route's log channel) already delivered."""
    labels = {"alertname": "BatchJobFailed", "job": job, "team": "ledger", "severity": "critical"}
    receive([firing(labels)], T0)
    deliver_due(now=T0)
    return Incident.objects.latest("pk")


def page(
    transport: str,
    address: str,
    *,
    key: str = "page-1",
    incident: Incident | None = None,
    channel: Channel | None = None,
    subject: str = "[HIGH] #7 Ledger close failed",
    body: str = "Escalation step 1 of 'Ledger default' (on call in Ledger primary).",
    payload: dict | None = None,
) -> Notification:
    with transaction.atomic():
        notification = notification_enqueue(
            purpose="page",
            recipient=Recipient(transport, address, channel=channel),
            subject=subject,
            body=body,
            payload=payload,
            idempotency_key=key,
            now=T0,
            incident=incident,
        )
    assert notification is not None
    return notification
