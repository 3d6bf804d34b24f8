"""Our own signals as alerts: the intake (``signals_route``), signals too old to page about
(``MAX_AGE``), SLO signals resolved by an ok status, and alerts resolved when their job
recovers (``signal_alerts_recover``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from batchwatch.alerts.from_signals import MAX_AGE, signal_alerts_recover, signals_route
from batchwatch.alerts.models import Alert, Incident
from batchwatch.alerts.services import SIGNALS_SOURCE
from batchwatch.catalog import services as catalog
from batchwatch.runs.ledger import signal_build, signals_emit
from batchwatch.runs.models import Run, RunSource, RunState, Signal
from tests.alerts.conftest import T0


@pytest.fixture
def job(team_a, route_tree):
    return catalog.job_create(
        engine="spark", namespace="prod", name="ledger_close", owner_team=team_a
    )


def make_run(job, external_id: str, state=RunState.RUNNING, **times) -> Run:
    return Run.objects.create(
        job=job, external_id=external_id, state=state, source=RunSource.OTLP, **times
    )


def emit(job, kind: str, *, at=T0, run=None, key_suffix="", slo="") -> Signal:
    signal = signal_build(
        run=run,
        job=job,
        kind=kind,
        severity=Signal.Severity.CRITICAL,
        summary=f"{job.key}: {kind}",
        now=at,
        key_suffix=key_suffix,
        extra_labels={"slo": slo} if slo else None,
    )
    assert signals_emit([signal]) == 1
    return Signal.objects.get(dedup_key=signal.dedup_key)


def alert_of(signal: Signal) -> Alert:
    return Alert.objects.get(source=SIGNALS_SOURCE, signal=signal)


# --- signals_route ------------------------------------------------------------------------------


def test_a_fresh_signal_becomes_a_firing_alert_of_its_job_once(job):
    run = make_run(job, "r1", RunState.FAILED, started_at=T0 - timedelta(minutes=30))
    signal = emit(job, Signal.Kind.FAILED, run=run)
    assert signals_route(now=T0 + timedelta(seconds=5)) == 1
    alert = alert_of(signal)
    assert alert.status == Alert.Status.FIRING
    assert alert.labels["alertname"] == "BatchJobFailed" and alert.labels["job"] == job.key
    assert alert.fingerprint == signal.dedup_key
    assert alert.job == job and alert.starts_at == T0
    signal.refresh_from_db()
    assert signal.routed_at == T0 + timedelta(seconds=5)
    assert Incident.objects.count() == 1
    assert signals_route(now=T0 + timedelta(seconds=10)) == 0  # claimed once
    assert Alert.objects.count() == 1


def test_signals_older_than_max_age_are_routed_without_an_alert(job):
    now = T0 + timedelta(hours=3)
    at_the_limit = emit(job, Signal.Kind.MISSED, at=now - MAX_AGE, key_suffix="limit")
    too_old = emit(
        job, Signal.Kind.MISSED, at=now - MAX_AGE - timedelta(seconds=1), key_suffix="old"
    )
    assert signals_route(now=now) == 2  # both claimed...
    assert alert_of(at_the_limit).status == Alert.Status.FIRING
    assert not Alert.objects.filter(signal=too_old).exists()  # ...the past pages nobody
    assert Alert.objects.count() == 1
    too_old.refresh_from_db()
    assert too_old.routed_at == now  # and it is not claimed again
    assert signals_route(now=now + timedelta(minutes=1)) == 0


def test_an_slo_signal_fires_one_alert_per_job_and_slo_and_ok_resolves_it(job):
    breached = emit(job, Signal.Kind.SLO, key_suffix="ledger-close:breached:1", slo="ledger-close")
    signals_route(now=T0)
    alert = alert_of(breached)
    assert alert.fingerprint == f"slo:job{job.pk}:ledger-close"
    assert alert.labels["alertname"] == "BatchSLO" and alert.status == Alert.Status.FIRING
    # Another SLO of the same job is another alert; the ok of the first resolves only it.
    other = emit(job, Signal.Kind.SLO, key_suffix="freshness:breached:2", slo="freshness")
    emit(job, Signal.Kind.SLO, at=T0 + timedelta(minutes=10), key_suffix="ledger-close:ok:3")
    signals_route(now=T0 + timedelta(minutes=10))
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert alert_of(other).status == Alert.Status.FIRING
    assert Alert.objects.filter(fingerprint__startswith=f"slo:job{job.pk}:").count() == 2


def test_a_resolved_signal_resolves_its_alert(job):
    signal = emit(job, Signal.Kind.PREDICTED_MISS, key_suffix="ledger-close", slo="ledger-close")
    signals_route(now=T0)
    assert alert_of(signal).status == Alert.Status.FIRING
    Signal.objects.filter(pk=signal.pk).update(resolved=True)
    assert signal_alerts_recover(now=T0 + timedelta(minutes=1)) == 1
    assert alert_of(signal).status == Alert.Status.RESOLVED


# --- signal_alerts_recover ----------------------------------------------------------------------


def test_nothing_firing_nothing_recovered(job):
    assert signal_alerts_recover(now=T0) == 0


def test_a_late_start_resolves_when_its_run_starts(job):
    run = make_run(job, "r1", RunState.SCHEDULED, expected_at=T0 - timedelta(minutes=20))
    signal = emit(job, Signal.Kind.LATE_START, run=run)
    signals_route(now=T0)
    assert signal_alerts_recover(now=T0 + timedelta(minutes=1)) == 0  # still not started
    assert alert_of(signal).status == Alert.Status.FIRING
    Run.objects.filter(pk=run.pk).update(
        state=RunState.RUNNING, started_at=T0 + timedelta(minutes=2)
    )
    assert signal_alerts_recover(now=T0 + timedelta(minutes=3)) == 1
    assert alert_of(signal).status == Alert.Status.RESOLVED


def test_an_overrun_resolves_when_its_run_ends(job):
    run = make_run(job, "r1", started_at=T0 - timedelta(hours=2))
    signal = emit(job, Signal.Kind.OVERRAN, run=run)
    signals_route(now=T0)
    assert signal_alerts_recover(now=T0 + timedelta(minutes=1)) == 0
    Run.objects.filter(pk=run.pk).update(state=RunState.FAILED, ended_at=T0 + timedelta(minutes=5))
    assert signal_alerts_recover(now=T0 + timedelta(minutes=6)) == 1
    assert alert_of(signal).status == Alert.Status.RESOLVED


def test_a_failure_resolves_when_a_later_run_of_the_job_succeeds(job):
    earlier = T0 - timedelta(hours=1)
    make_run(job, "r0", RunState.SUCCEEDED, started_at=earlier, ended_at=earlier)
    failed = make_run(job, "r1", RunState.FAILED, started_at=T0 - timedelta(minutes=30))
    signal = emit(job, Signal.Kind.FAILED, run=failed)
    signals_route(now=T0)
    # A success from before the failure is no recovery.
    assert signal_alerts_recover(now=T0 + timedelta(minutes=1)) == 0
    assert alert_of(signal).status == Alert.Status.FIRING
    make_run(
        job,
        "r2",
        RunState.SUCCEEDED,
        started_at=T0 + timedelta(minutes=10),
        ended_at=T0 + timedelta(minutes=20),
    )
    assert signal_alerts_recover(now=T0 + timedelta(minutes=21)) == 1
    assert alert_of(signal).status == Alert.Status.RESOLVED
    assert signal_alerts_recover(now=T0 + timedelta(minutes=22)) == 0  # resolved once


def test_a_success_does_not_resolve_a_predicted_miss_or_another_jobs_failure(job, team_a):
    other_job = catalog.job_create(
        engine="spark", namespace="prod", name="ledger_audit", owner_team=team_a
    )
    predicted = emit(job, Signal.Kind.PREDICTED_MISS, key_suffix="ledger-close", slo="ledger-close")
    other_failure = emit(
        other_job, Signal.Kind.FAILED, run=make_run(other_job, "o1", RunState.FAILED)
    )
    signals_route(now=T0)
    make_run(
        job,
        "r2",
        RunState.SUCCEEDED,
        started_at=T0 + timedelta(minutes=10),
        ended_at=T0 + timedelta(minutes=20),
    )
    assert signal_alerts_recover(now=T0 + timedelta(minutes=21)) == 0
    assert alert_of(predicted).status == Alert.Status.FIRING
    assert alert_of(other_failure).status == Alert.Status.FIRING
