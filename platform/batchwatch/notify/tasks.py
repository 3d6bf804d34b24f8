"""Celery tasks of the outbox: just another interface to ``notify.services``."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import shared_task


@shared_task(name="batchwatch.notify.deliver", ignore_result=True)
def deliver_notification(notification_id: int) -> None:
    from batchwatch.notify.services import deliver

    deliver(notification_id, now=datetime.now(UTC))
