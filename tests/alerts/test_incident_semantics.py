"""What an incident says of itself follows its alerts: urgency from the highest firing
severity (through the policy's mapping), a title that says what is wrong now, one alert per
occurrence that has not started (late, then missed), and no incident for what a success has
already overtaken."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from batchwatch.alerts import services
from batchwatch.alerts.from_signals import signals_route
from batchwatch.alerts.models import Alert, Incident, TimelineEntry, Timer
from batchwatch.alerts.services.semantics import AlertState, incident_title
from batchwatch.alerts.wire import RESOLVE, AlertEvent, label_fingerprint
from batchwatch.catalog import services as catalog
from batchwatch.notify.models import Notification
from batchwatch.runs.ledger import signal_build, signals_emit
from batchwatch.runs.models import Run, RunSource, RunState, Signal
from tests.alerts.conftest import T0, firing, receive, run_until

FLUSHED = T0 + timedelta(seconds=30)


def pages() -> list[str]:
    return list(
        Notification.objects.filter(purpose="page").order_by("id").values_list("address", flat=True)
    )


def resolve(labels, at) -> None:
    receive([AlertEvent(action=RESOLVE, labels=labels, fingerprint=label_fingerprint(labels))], at)


@pytest.fixture
def by_team(route_tree):
    """Group by team only: every Ledger alert lands in one incident."""
    route_tree.group_by = ["team"]
    route_tree.save()
    return route_tree


def ledger(job: str, alertname: str = "BatchJobFailed") -> dict:
    return {"alertname": alertname, "job": job, "team": "ledger"}


# --- urgency ---------------------------------------------------------------------------------


def test_the_mapping_is_snapshotted_with_the_policy(route_tree):
    receive([firing(ledger("a"), severity="warning")], T0)
    incident = Incident.objects.get()
    assert incident.escalation_snapshot["urgency_by_severity"]["critical"] == "high"
    assert services.urgency_for("critical", snapshot=incident.escalation_snapshot) == "high"
    assert services.urgency_for("warning", snapshot=incident.escalation_snapshot) == "low"
    assert services.urgency_for("warning", snapshot={"urgency_by_severity": {"warning": "high"}})


def test_urgency_follows_the_highest_firing_severity(by_team, people):
    receive([firing(ledger("a"), severity="warning")], T0)
    incident = Incident.objects.get()
    assert (incident.urgency, incident.severity) == ("low", "warning")
    receive([firing(ledger("b"), severity="critical")], T0 + timedelta(seconds=10))
    incident.refresh_from_db()
    assert (incident.urgency, incident.severity) == ("high", "critical")
    entry = incident.timeline.get(kind=TimelineEntry.Kind.URGENCY_CHANGED)
    assert entry.message == "Urgency low → high (highest firing severity: critical)"
    assert entry.at == T0 + timedelta(seconds=10)
    resolve(ledger("b"), T0 + timedelta(seconds=20))
    incident.refresh_from_db()
    assert (incident.urgency, incident.severity) == ("low", "warning")


def test_an_incident_of_critical_alerts_does_not_stay_low(route_tree, people):
    """A low incident pages step 1 and stops; turning critical resumes the escalation."""
    receive([firing(ledger("a"), severity="warning")], T0)
    incident = Incident.objects.get()
    run_until(FLUSHED, FLUSHED)
    assert pages() == ["alice@example.com"]
    assert not Timer.objects.filter(kind="escalate", state="pending").exists()
    receive([firing(ledger("a"), severity="critical")], T0 + timedelta(minutes=1))
    incident.refresh_from_db()
    assert incident.urgency == "high"
    timer = Timer.objects.get(kind="escalate", state="pending")
    assert (timer.due_at, timer.step) == (T0 + timedelta(minutes=6), 1)
    run_until(T0 + timedelta(minutes=6), T0 + timedelta(minutes=6))
    assert pages() == ["alice@example.com", "bob@example.com"]


def test_turning_low_stops_the_escalation_after_the_current_step(route_tree, people):
    receive([firing(ledger("a"), severity="critical")], T0)
    run_until(FLUSHED, FLUSHED)
    assert Timer.objects.filter(kind="escalate", state="pending").count() == 1
    receive([firing(ledger("a"), severity="warning")], T0 + timedelta(minutes=1))
    assert Incident.objects.get().urgency == "low"
    assert not Timer.objects.filter(kind="escalate", state="pending").exists()


# --- title -----------------------------------------------------------------------------------


def test_one_alert_the_title_is_its_newest_text(route_tree):
    receive([firing(ledger("a"), severity="critical", summary="a: 26 min late")], T0)
    receive(
        [firing(ledger("a"), severity="critical", summary="a: 40 min late")],
        T0 + timedelta(minutes=14),
    )
    assert Incident.objects.get().title == "a: 40 min late"


def test_several_jobs_are_counted_with_their_team(by_team):
    receive([firing(ledger("a"), summary="a failed")], T0)
    assert Incident.objects.get().title == "a failed"
    receive([firing(ledger("b")), firing(ledger("c"))], T0 + timedelta(seconds=5))
    incident = Incident.objects.get()
    assert incident.title == "3 jobs of Ledger failed"
    resolve(ledger("c"), T0 + timedelta(seconds=10))
    incident.refresh_from_db()
    assert incident.title == "2 jobs of Ledger failed"
    resolve(ledger("b"), T0 + timedelta(seconds=15))
    incident.refresh_from_db()
    assert incident.title == "a failed"  # what still fires


@pytest.mark.parametrize(
    ("alerts", "title"),
    [
        (
            [("j1", "BatchJobMissed", "x"), ("j2", "BatchJobMissed", "y")],
            "2 jobs of Ledger missed their run",
        ),
        ([("j1", "HighLag", "x"), ("j2", "HighLag", "y")], "2 jobs of Ledger: HighLag"),
        (
            [("j1", "BatchJobFailed", "x"), ("j2", "BatchJobMissed", "newest")],
            "2 jobs of Ledger are alerting; newest: newest",
        ),
        (
            [("j1", "BatchJobFailed", "x"), ("j1", "BatchJobOverran", "newest")],
            "newest (+1 more alert)",
        ),
        ([("", "A", "x"), ("", "B", "y"), ("", "C", "newest")], "newest (+2 more alerts)"),
        ([("j1", "LedgerLate", "")], "LedgerLate — job=j1"),
        ([("", "LedgerLate", "")], "LedgerLate"),
    ],
)
def test_title_rule(alerts, title):
    states = [
        AlertState(
            fingerprint=f"f{i}",
            status="firing",
            labels={"alertname": name, **({"job": job} if job else {})},
            summary=summary,
            severity="critical",
            starts_at=T0 + timedelta(minutes=i),
        )
        for i, (job, name, summary) in enumerate(alerts)
    ]
    assert incident_title(states, team_name="Ledger") == title


# --- late start, then missed: one alert --------------------------------------------------------


@pytest.fixture
def job(team_a, route_tree):
    return catalog.job_create(engine="spark", namespace="prod", name="close", owner_team=team_a)


def make_run(job, external_id: str, state=RunState.SCHEDULED, **times) -> Run:
    return Run.objects.create(
        job=job, external_id=external_id, state=state, source=RunSource.LEDGER, **times
    )


def emit(job, kind: str, *, run, severity: str, at=T0, suffix="") -> Signal:
    signal = signal_build(
        run=run,
        kind=kind,
        severity=severity,
        summary=f"{job.key}: {kind}",
        now=at,
        key_suffix=suffix,
    )
    assert signals_emit([signal]) == 1
    return Signal.objects.get(dedup_key=signal.dedup_key)


def test_a_late_start_that_becomes_missed_is_the_same_alert_escalating(job, people):
    run = make_run(job, "expected:1", scheduled_at=T0 - timedelta(minutes=20))
    late = emit(job, Signal.Kind.LATE_START, run=run, severity="warning")
    signals_route(now=T0 + timedelta(seconds=1))
    alert = Alert.objects.get()
    incident = Incident.objects.get()
    assert (alert.fingerprint, alert.severity, alert.signal) == (
        f"not_started:run{run.pk}",
        "warning",
        late,
    )
    assert incident.urgency == "low"
    missed = emit(
        job, Signal.Kind.MISSED, run=run, severity="critical", at=T0 + timedelta(minutes=40)
    )
    signals_route(now=T0 + timedelta(minutes=40, seconds=1))
    alert = Alert.objects.get()  # still one alert
    assert (alert.severity, alert.signal, alert.labels["alertname"]) == (
        "critical",
        missed,
        "BatchJobMissed",
    )
    assert alert.starts_at == T0  # it has been wrong since the late start
    incident = Incident.objects.get()
    assert (incident.urgency, incident.severity, incident.title) == (
        "high",
        "critical",
        f"{job.key}: missed",
    )


# --- signals older than the job's last success ---------------------------------------------------


def test_a_failure_older_than_the_last_success_opens_nothing(job):
    old = make_run(job, "r1", RunState.FAILED, started_at=T0 - timedelta(minutes=50))
    make_run(job, "r2", RunState.SUCCEEDED, started_at=T0 - timedelta(minutes=20))
    stale = emit(job, Signal.Kind.FAILED, run=old, severity="critical", suffix="attempt1")
    assert signals_route(now=T0 + timedelta(seconds=1)) == 1
    stale.refresh_from_db()
    assert stale.routed_at == T0 + timedelta(seconds=1)  # recorded...
    assert not Alert.objects.exists() and not Incident.objects.exists()  # ...pages nobody


def test_a_failure_of_a_run_that_succeeded_on_retry_opens_nothing(job):
    run = make_run(job, "r1", RunState.SUCCEEDED, started_at=T0 - timedelta(minutes=10))
    emit(job, Signal.Kind.FAILED, run=run, severity="critical", suffix="attempt1")
    signals_route(now=T0 + timedelta(seconds=1))
    assert not Incident.objects.exists()


def test_a_failure_newer_than_the_last_success_opens_an_incident(job):
    make_run(job, "r1", RunState.SUCCEEDED, started_at=T0 - timedelta(hours=1))
    failed = make_run(job, "r2", RunState.FAILED, started_at=T0 - timedelta(minutes=10))
    emit(job, Signal.Kind.FAILED, run=failed, severity="critical", suffix="attempt1")
    signals_route(now=T0 + timedelta(seconds=1))
    assert Incident.objects.get().urgency == "high"


def test_an_overrun_of_the_latest_success_still_alerts(job):
    run = make_run(job, "r1", RunState.SUCCEEDED, started_at=T0 - timedelta(hours=3))
    emit(job, Signal.Kind.OVERRAN, run=run, severity="warning")
    signals_route(now=T0 + timedelta(seconds=1))
    assert Alert.objects.get().labels["alertname"] == "BatchJobOverran"


def test_an_expired_alert_leaves_the_title_and_urgency(by_team):
    receive([firing(ledger("a"), severity="warning", summary="a failed")], T0)
    receive(
        [firing(ledger("b"), severity="critical", expires_at=T0 + timedelta(minutes=5))],
        T0 + timedelta(seconds=5),
    )
    incident = Incident.objects.get()
    assert (incident.title, incident.urgency) == ("2 jobs of Ledger failed", "high")
    services.alerts_reconsider(now=T0 + timedelta(minutes=6))
    incident.refresh_from_db()
    assert (incident.title, incident.urgency) == ("a failed", "low")


def test_the_policy_can_map_a_severity_to_high_urgency(route_tree, policy):
    policy.urgency_by_severity = {"Warning": "high"}
    policy.full_clean()
    policy.save()
    receive([firing(ledger("a"), severity="warning")], T0)
    incident = Incident.objects.get()
    assert incident.escalation_snapshot["urgency_by_severity"]["warning"] == "high"
    assert (incident.urgency, incident.severity) == ("high", "warning")


@pytest.mark.parametrize("mapping", [["warning"], {"warning": "urgent"}, {"": "high"}])
def test_a_policy_mapping_is_validated(policy, mapping):
    policy.urgency_by_severity = mapping
    with pytest.raises(ValidationError):
        policy.full_clean()
