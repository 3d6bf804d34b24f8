"""PostgreSQL restarted while the worker is idle, then a storm: every group notification is
delivered exactly once (the sender threads reused dead connections: 80 of 200 pages went
out twice). A cluster the test starts itself; web and worker are real processes on it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest

from tests.conftest import require
from tests.faults.scenario import alertmanager_payload
from tests.processes import ROOT, Hook, PrivatePostgres, Web, manage, stop, wait_for

pytestmark = [pytest.mark.postgres]

GROUPS = 50

SETUP = """
from datetime import timedelta
from batchwatch.alerts.models import Route
from batchwatch.alerts.services import integration_create
from batchwatch.notify.models import Channel
channel = Channel.objects.create(name="pager", kind="webhook", address={url!r})
route = Route.objects.create(name="root", group_by=["alertname", "job"],
                             group_wait=timedelta(seconds=1))
route.channels.add(channel)
print(integration_create(name="am", kind="alertmanager")[1])
"""


def test_a_storm_after_a_database_restart_pages_each_group_once():
    postgres = PrivatePostgres()
    require(postgres.available, "PostgreSQL's server binaries")
    postgres.init()
    hook = Hook()
    env = {"DATABASE_URL": postgres.url}
    processes = []
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True,
                       env=_environ(env), timeout=300)  # fmt: skip
        token = subprocess.run(
            [sys.executable, "manage.py", "shell", "--no-imports", "-c",
             SETUP.format(url=hook.url)],
            cwd=ROOT, env=_environ(env), check=True, capture_output=True, text=True, timeout=120,
        ).stdout.split()[-1]  # fmt: skip
        web = Web(**env)
        worker = manage("worker", "--interval", "0.1", **env)
        processes = [web.process, worker]
        time.sleep(3)  # the worker's threads hold their connections, idle
        postgres.stop()
        time.sleep(1)
        postgres.start()
        jobs = [f"j{i}" for i in range(GROUPS)]
        status, body = web.post(
            "/api/v1/integrations/alertmanager/",
            alertmanager_payload(jobs),
            {"Authorization": f"Bearer {token}"},
        )
        assert status == 200, body
        wait_for(lambda: len(set(hook.keys)) >= GROUPS, timeout=60, what="every group's page")
        time.sleep(3)  # a second delivery would show by now
    finally:
        for process in processes:
            stop(process)
        hook.close()
        postgres.remove()
    counts = Counter(hook.keys)
    assert len(counts) == GROUPS
    assert [key for key, n in counts.items() if n > 1] == []


def _environ(extra: dict) -> dict:
    import os

    env = {**os.environ, **extra}
    env.pop("REDIS_URL", None)
    return env
