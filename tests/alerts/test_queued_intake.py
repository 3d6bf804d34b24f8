"""Queued intake (``BATCHWATCH_ALERT_INTAKE=queued``): a webhook is answered once its parsed
alerts are committed; the drain processes batches in arrival order, as of their arrival, with
the same results as inline intake."""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import Client

from batchwatch.alerts import services
from batchwatch.alerts.models import Alert, AlertIntake, Incident, Integration, Route, Timer
from batchwatch.alerts.services import (
    alerts_accept,
    intake_drain,
    intake_prune,
    intake_queue,
    integration_create,
)
from batchwatch.alerts.wire import RESOLVE, AlertEvent, event_from_record, event_record
from batchwatch.core import jsontext
from tests.alerts.conftest import firing
from tests.ingest.helpers import sample as sample_bytes

AM_SAMPLE = "alertmanager/0001_POST_alertmanager_webhook.json"
T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


@pytest.fixture
def queued(settings):
    settings.BATCHWATCH_ALERT_INTAKE = "queued"


@pytest.fixture
def am_token(db, team_a):
    return integration_create(name="prom", kind=Integration.Kind.ALERTMANAGER, team=team_a)[1]


def post(path, body, token):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client().post(
        path, data=data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def snapshot():
    """What intake produced, whichever way: alerts and the incidents grouping them."""
    alerts = sorted(
        (a.fingerprint, a.status, json.dumps(a.labels, sort_keys=True), a.summary)
        for a in Alert.objects.all()
    )
    incidents = sorted(
        (i.group_key, i.state, i.memberships.count()) for i in Incident.objects.all()
    )
    return alerts, incidents


def test_events_survive_the_stored_form():
    event = AlertEvent(
        action=RESOLVE,
        labels={"alertname": "Late", "job": "ledger"},
        fingerprint="f1",
        annotations={"summary": "late"},
        summary="late",
        severity="critical",
        starts_at=T0,
        ends_at=T0 + timedelta(minutes=5),
        generator_url="http://prometheus/graph",
        links=({"href": "http://runbook", "text": "runbook"},),
    )
    assert event_from_record(jsontext.loads(jsontext.dumps(event_record(event)))) == event


def test_a_queued_webhook_is_answered_before_processing(queued, am_token):
    response = post("/api/v1/integrations/alertmanager/", sample_bytes(AM_SAMPLE), am_token)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "success", "received": 2, "queued": True}
    assert not Alert.objects.exists()
    [batch] = AlertIntake.objects.all()
    assert (len(batch.events), batch.processed_at) == (2, None)

    assert intake_drain(now=datetime.now(UTC)) == 1
    assert Alert.objects.count() == 2
    assert Incident.objects.count() == 1
    batch.refresh_from_db()
    assert batch.processed_at is not None and batch.error == ""
    assert intake_drain(now=datetime.now(UTC)) == 0  # nothing twice


def test_queued_and_inline_intake_give_the_same_result(settings, am_token):
    payloads = [sample_bytes(AM_SAMPLE)]
    resolved = json.loads(payloads[0])
    resolved["status"] = "resolved"
    for alert in resolved["alerts"][:1]:
        alert["status"], alert["endsAt"] = "resolved", "2026-11-22T03:10:00Z"
    payloads.append(json.dumps(resolved).encode())

    for body in payloads:
        post("/api/v1/integrations/alertmanager/", body, am_token)
    inline = snapshot()
    Alert.objects.all().delete()
    Incident.objects.all().delete()

    settings.BATCHWATCH_ALERT_INTAKE = "queued"
    for body in payloads:
        post("/api/v1/integrations/alertmanager/", body, am_token)
    intake_drain(now=datetime.now(UTC))
    assert snapshot() == inline
    assert [a.status for a in Alert.objects.order_by("labels__instance")] == [
        "resolved",
        "firing",
    ]  # the resolve, queued after the firing, was processed after it


def test_group_wait_counts_from_arrival_not_from_processing(db):
    Route.objects.create(group_by=["alertname", "job"], group_wait=timedelta(seconds=30))
    alerts_accept(
        events=[firing({"alertname": "Down", "job": "ledger"})],
        source="test",
        now=T0,
        integration=None,
    )
    intake_drain(now=T0 + timedelta(seconds=20))  # the drain ran late
    incident = Incident.objects.get()
    assert incident.created_at == T0
    flush = Timer.objects.get(incident=incident, kind=Timer.Kind.FLUSH)
    assert flush.due_at == T0 + timedelta(seconds=30)


def test_bad_input_is_still_refused_at_the_edge(queued, am_token):
    response = post("/api/v1/integrations/alertmanager/", {"version": "3"}, am_token)
    assert response.status_code == 400
    assert not AlertIntake.objects.exists()


def test_pagerduty_answers_202_once_queued(queued, db):
    token = integration_create(name="pd", kind=Integration.Kind.PAGERDUTY)[1]
    event = {
        "routing_key": token,
        "event_action": "trigger",
        "dedup_key": "close-2026-11-22",
        "payload": {"summary": "ledger close late", "source": "airflow", "severity": "critical"},
    }
    response = Client().post("/v2/enqueue", json.dumps(event), content_type="application/json")
    assert response.status_code == 202
    assert response.json()["dedup_key"] == "close-2026-11-22"
    assert not Alert.objects.exists()
    intake_drain(now=datetime.now(UTC))
    assert Alert.objects.get().fingerprint == "close-2026-11-22"


def test_a_batch_that_fails_keeps_its_error_and_holds_up_nothing(db, monkeypatch):
    # Arriving together, the three are first processed as one call; that fails, so each is
    # processed on its own and only the one at fault is marked.
    for job in ("a", "b", "c"):
        alerts_accept(
            events=[firing({"alertname": "Down", "job": job})],
            source="test",
            now=T0,
            integration=None,
        )
    real = services.alerts_receive

    def receive(*, events, **kwargs):
        if any(event.labels["job"] == "b" for event in events):
            raise RuntimeError("a bug in processing")
        return real(events=events, **kwargs)

    monkeypatch.setattr(intake_queue, "alerts_receive", receive)
    assert intake_drain(now=T0) == 3
    assert sorted(a.labels["job"] for a in Alert.objects.all()) == ["a", "c"]
    failed = AlertIntake.objects.get(error__contains="a bug in processing")
    assert failed.processed_at == T0
    assert intake_drain(now=T0) == 0


def test_processed_batches_are_pruned_after_a_day(db):
    alerts_accept(events=[firing({"alertname": "Down"})], source="test", now=T0, integration=None)
    intake_drain(now=T0)
    assert intake_prune(now=T0 + timedelta(hours=23)) == 0
    assert intake_prune(now=T0 + timedelta(days=1, seconds=1)) == 1


@pytest.mark.django_db(transaction=True)  # the worker closes its connection after each round
def test_the_alerts_worker_drains_the_queue():
    alerts_accept(events=[firing({"alertname": "Down"})], source="test", now=T0, integration=None)
    call_command("alerts", "worker", "--once")
    assert AlertIntake.objects.get().processed_at is not None
    assert Alert.objects.count() == 1


def test_the_backlog_is_on_metrics(db):
    alerts_accept(events=[firing({"alertname": "Down"})], source="test", now=T0, integration=None)
    text = Client().get("/metrics").content.decode()
    assert "batchwatch_alert_intake_queued_batches 1.0" in text
    intake_drain(now=T0)
    text = Client().get("/metrics").content.decode()
    assert "batchwatch_alert_intake_queued_batches 0.0" in text
    assert "batchwatch_alert_intake_oldest_queued_seconds 0.0" in text


def test_batches_arriving_together_are_processed_as_one_unless_an_alert_repeats(db, monkeypatch):
    calls = []
    real = services.alerts_receive

    def receive(*, events, **kwargs):
        calls.append(sorted(e.labels["job"] for e in events))
        return real(events=events, **kwargs)

    monkeypatch.setattr(intake_queue, "alerts_receive", receive)
    for job, ms in (("a", 0), ("b", 100), ("a", 200), ("c", 300), ("d", 2000)):
        alerts_accept(events=[firing({"alertname": "Down", "job": job})], source="test",
                      now=T0 + timedelta(milliseconds=ms), integration=None)  # fmt: skip
    intake_drain(now=T0 + timedelta(seconds=3))
    # "a" again starts a new call; "d" came too long after.
    assert calls == [["a", "b"], ["a", "c"], ["d"]]
    assert Alert.objects.get(labels__job="a").received_count == 2


def test_a_token_is_remembered_briefly_and_revocation_applies_at_once(admin_client, am_token):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = "/api/v1/integrations/alertmanager/"
    assert post(url, sample_bytes(AM_SAMPLE), am_token).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert post(url, sample_bytes(AM_SAMPLE), am_token).status_code == 200
    lookups = [q for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert not [q for q in lookups if "alerts_integration" in q["sql"][:300]]
    integration = Integration.objects.get()
    admin_client.post(
        "/admin/alerts/integration/",
        {"action": "revoke", "_selected_action": [integration.pk]},
    )
    integration.refresh_from_db()
    assert integration.revoked_at is not None
    assert post(url, sample_bytes(AM_SAMPLE), am_token).status_code == 401


def test_beat_and_the_embedded_scheduler_drain_the_queue_every_second():
    from batchwatch.celery import beat_schedule

    entry = beat_schedule()["alerts.intake"]
    assert entry["schedule"] == 1.0 and entry["args"] == ("alerts.intake",)


def test_one_worker_round_without_a_database_fails_with_a_sentence(monkeypatch, db):
    """(The looping worker logs the error and tries again a second later.)"""
    from django.core.management.base import CommandError
    from django.db import OperationalError

    from batchwatch.alerts import periodic

    def unavailable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(periodic, "intake_drain", unavailable)  # as the worker calls it
    with pytest.raises(CommandError, match="The database is unavailable"):
        call_command("alerts", "worker", "--once")


def test_the_worker_drains_once_a_storm_has_passed_or_waited_long_enough(db):
    from batchwatch.alerts.services import INTAKE_MAX_DEFER, INTAKE_QUIET, intake_drain_due

    assert not intake_drain_due(now=T0)  # nothing queued
    ms = timedelta(milliseconds=1)
    alerts_accept(events=[firing({"alertname": "Down"})], source="test", now=T0, integration=None)
    assert not intake_drain_due(now=T0 + INTAKE_QUIET - ms)  # more may be on their way
    assert intake_drain_due(now=T0 + INTAKE_QUIET)  # quiet: drain
    # A storm that does not stop: its first batch waits INTAKE_MAX_DEFER at most.
    at = T0
    while at < T0 + INTAKE_MAX_DEFER:
        at += INTAKE_QUIET / 2
        alerts_accept(events=[firing({"alertname": "Down"})], source="t", now=at, integration=None)
        assert intake_drain_due(now=at) == (at - T0 >= INTAKE_MAX_DEFER)
    intake_drain(now=at)
    assert not intake_drain_due(now=at)


def test_a_batch_is_queued_with_one_insert_and_its_defaults(db, django_assert_num_queries):
    from batchwatch.core import queues

    with django_assert_num_queries(1):
        alerts_accept(events=[firing({"alertname": "Down"})], source="t", now=T0, integration=None)
    batch = AlertIntake.objects.get()
    assert (batch.source, batch.received_at, batch.processed_at, batch.error) == ("t", T0, None, "")
    with pytest.raises(TypeError, match="AlertIntake has no field integration"):
        queues.enqueue(AlertIntake, integration=None, received_at=T0, events=[])


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="threads have their own nice value on Linux"
)
def test_the_drain_thread_lowers_its_own_priority_and_nothing_else():
    from batchwatch.core.worker import _lower_thread_priority

    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = []

    def drain():
        _lower_thread_priority(5)
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=drain)
    thread.start()
    thread.join()
    assert seen == [min(19, main + 5)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == main
