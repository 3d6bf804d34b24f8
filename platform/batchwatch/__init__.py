"""Batchwatch. The Celery app is loaded wherever Django starts (web processes, ``manage.py``
commands, the worker), so that a task sent from any of them goes to ``REDIS_URL``, not to
Celery's default broker."""

from batchwatch.celery import app as celery_app

__all__ = ("celery_app",)
