"""The Celery application for production (``celery -A batchwatch worker`` / ``beat``).

Beat runs the same periodic registry as the embedded scheduler: one Celery task,
``batchwatch.run_periodic``, runs a registered function by name with the current time.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchwatch.settings")

app = Celery("batchwatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="batchwatch.run_periodic", ignore_result=True)
def run_periodic(name: str) -> None:
    from batchwatch.core.periodic import get_task

    get_task(name).func(datetime.now(UTC))


def beat_schedule() -> dict[str, dict]:
    from batchwatch.core.periodic import registered_tasks

    return {
        task.name: {
            "task": "batchwatch.run_periodic",
            "schedule": task.every.total_seconds(),
            "args": (task.name,),
            # A beat tick that nobody picked up in one interval is superseded by the next.
            "options": {"expires": task.every.total_seconds()},
        }
        for task in registered_tasks()
    }


@app.on_after_finalize.connect
def _install_beat_schedule(sender: Celery, **kwargs) -> None:
    sender.conf.beat_schedule = beat_schedule()
