"""Two workers and two web processes running the embedded scheduler, all at once on one
database: every escalation step runs once and every page is delivered once, in step order."""

from __future__ import annotations

import time

import pytest

from tests.faults.scenario import escalation_figures, escalation_to_webhook, fire
from tests.processes import Hook, Web, manage, stop, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

INCIDENTS, STEPS, WAIT, GROUP_WAIT = 20, 3, 2.0, 1.0


def test_four_runners_page_each_step_exactly_once():
    hook = Hook()
    escalation_to_webhook(hook.url, steps=STEPS, wait=WAIT, group_wait=GROUP_WAIT)
    workers = [manage("worker", "--interval", "0.1") for _ in range(2)]
    webs = [Web(scheduler=True) for _ in range(2)]
    fire(INCIDENTS)
    try:
        wait_for(lambda: len(set(hook.keys)) >= INCIDENTS * STEPS, timeout=90, what="every page")
        time.sleep(3)  # a second delivery would show by now
        assert all(w.poll() is None for w in workers), "both workers kept running"
    finally:
        for worker in workers:
            stop(worker)
        for web in webs:
            web.stop()
        hook.close()
    figures = escalation_figures(hook, expected=INCIDENTS * STEPS, wait=WAIT, group_wait=GROUP_WAIT)
    figures.pop("worst_lateness_s")
    assert figures == {"expected": 60, "delivered": 60, "duplicated": 0, "resent_same_key": 0,
                       "lost": 0, "out_of_order": 0}  # fmt: skip
