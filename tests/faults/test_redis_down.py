"""Paging without the broker: with Redis stopped, alerts posted to a web process still become
incidents and pages, each delivered once, by ``manage.py worker`` alone; ``/metrics`` answers.

Real processes on PostgreSQL (the PostgreSQL leg of .ci/run) and a Redis the test starts.
"""

from __future__ import annotations

import shutil
import signal
import time
from collections import Counter

import pytest

from batchwatch.alerts.models import Incident
from batchwatch.notify.models import Notification
from tests.conftest import require
from tests.faults.scenario import alertmanager_payload, paging_webhook
from tests.processes import Hook, Web, free_port, manage, redis_server, stop, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_alerts_page_and_metrics_answer_while_redis_is_down(tmp_path):
    require(shutil.which("redis-server") is not None, "redis-server")
    port = free_port()
    redis = redis_server(port, tmp_path)
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}  # queued intake, as in production
    hook = Hook()
    token = paging_webhook(hook.url)
    web = Web(**env)
    worker = manage("worker", "--interval", "0.1", **env)
    auth = {"Authorization": f"Bearer {token}"}
    try:
        status, _ = web.post(
            "/api/v1/integrations/alertmanager/", alertmanager_payload(["before"]), auth
        )
        assert status == 200
        wait_for(lambda: len(hook.keys) == 1, timeout=30, what="a page with Redis up")

        stop(redis, signal.SIGKILL)  # the broker and the cache go away
        jobs = [f"j{i}" for i in range(10)]
        for job in jobs:
            status, body = web.post(
                "/api/v1/integrations/alertmanager/", alertmanager_payload([job]), auth
            )
            assert status == 200, body
        wait_for(lambda: len(hook.keys) >= 11, timeout=60, what="pages while Redis is down")
        status, body = web.get("/metrics")
        assert status == 200, body[:500]
        assert b"batchwatch_" in body
        time.sleep(2)  # a second delivery of any page would show by now
    finally:
        stop(worker)
        web.stop()
        stop(redis)
        hook.close()
    assert Incident.objects.count() == 11
    assert Notification.objects.filter(state="delivered").count() == 11
    assert len(hook.keys) == 11
    assert [key for key, n in Counter(hook.keys).items() if n > 1] == []
