"""A worker killed with SIGKILL while it sends an escalation's pages: another worker takes
over within seconds, every page is delivered once (what was in flight at the kill again with
its Idempotency-Key, as it cannot be known sent), and no step of an incident
overtakes an earlier one. Real processes on PostgreSQL; a slow webhook receiver keeps
deliveries in flight when the worker dies."""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.scenario import escalation_figures, escalation_to_webhook, fire
from tests.processes import Hook, manage, stop, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

INCIDENTS, STEPS, WAIT, GROUP_WAIT = 20, 3, 2.0, 1.0


def test_pages_survive_a_killed_worker_once_each_in_order_and_on_time():
    hook = Hook(delay=0.3)
    escalation_to_webhook(hook.url, steps=STEPS, wait=WAIT, group_wait=GROUP_WAIT)
    doomed = manage("worker", "--interval", "0.1")
    time.sleep(3)  # started, idle
    fire(INCIDENTS)
    try:
        wait_for(lambda: len(hook.keys) >= 5, timeout=30, what="the first pages")
    finally:
        stop(doomed, signal.SIGKILL)  # with step 1's pages claimed and in flight
    survivor = manage("worker", "--interval", "0.1")
    try:
        wait_for(lambda: len(set(hook.keys)) >= INCIDENTS * STEPS, timeout=90, what="every page")
        time.sleep(3)  # a second delivery would show by now
    finally:
        stop(survivor)
        hook.close()
    figures = escalation_figures(hook, expected=INCIDENTS * STEPS, wait=WAIT, group_wait=GROUP_WAIT)
    lateness, resent = figures.pop("worst_lateness_s"), figures.pop("resent_same_key")
    assert figures == {"expected": 60, "delivered": 60, "duplicated": 0, "lost": 0,
                       "out_of_order": 0}  # fmt: skip
    # Only what was in flight when the worker died (one per sender thread at most) goes out
    # again, under its own Idempotency-Key, which the receiver can drop.
    assert resent <= 8
    assert lateness <= 10
