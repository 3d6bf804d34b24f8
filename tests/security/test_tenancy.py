"""Tenancy enforced on objects (issue 17): an ingest key bound to a team records runs of its
own team's jobs only; a member's silences and maintenance windows are confined to their own
teams' alerts, and only the owner team or staff may change them; an incident without a team
is staff's to act on. Personas: owner and teammate (team A, *ledger*), outsider (team B,
*risk*), admin (staff)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from batchwatch.alerts.models import Alert, Incident, MaintenanceWindow, Silence
from batchwatch.catalog import services as catalog
from batchwatch.catalog.models import Job
from batchwatch.core.models import QuarantinedItem
from batchwatch.ingest.services import ingest_key_create, runs_drain
from batchwatch.runs.models import Run, Span
from batchwatch.runs.selectors import run_span_tree
from tests.ingest.helpers import sample

NOW = datetime.now(UTC).replace(microsecond=0)
_ids = itertools.count(1)


# --- ingest keys ------------------------------------------------------------------------


def _span(namespace: str, job: str, state: str = "failed") -> dict:
    n = next(_ids)
    attrs = {
        "batch.job.name": job,
        "batch.job.namespace": namespace,
        "batch.run.id": f"{job}-run-{n}",
        "batch.run.state": state,
    }
    return {
        "traceId": f"{n:032x}",
        "spanId": f"{n:016x}",
        "name": job,
        "kind": 1,
        "startTimeUnixNano": str(int((NOW - timedelta(minutes=5)).timestamp()) * 10**9),
        "endTimeUnixNano": str(int((NOW - timedelta(minutes=1)).timestamp()) * 10**9),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }


def _export(key: str | None, spans: list[dict]) -> tuple[int, str]:
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": []},
                "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}],
            }
        ]
    }
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    response = Client().post(
        "/v1/traces", json.dumps(document), content_type="application/json", **headers
    )
    assert response.status_code == 200, response.content
    partial = response.json().get("partialSuccess", {})
    return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")


@pytest.fixture(params=["inline", "queued"])
def mode(request, settings):
    settings.BATCHWATCH_INGEST_RUNS = request.param
    return request.param


def _drain(mode: str) -> None:
    if mode == "queued":
        runs_drain(now=NOW)


@pytest.fixture
def risk_job(team_b):
    return catalog.job_create(engine="other", namespace="risk", name="var", owner_team=team_b)


@pytest.fixture
def ledger_key(team_a):
    return ingest_key_create(name="ledger exporter", team=team_a)[1]


@pytest.mark.django_db
def test_a_team_key_cannot_record_runs_of_another_teams_job(mode, ledger_key, risk_job):
    rejected, message = _export(
        ledger_key, [_span("risk", "var"), _span("ledger", "close", "succeeded")]
    )
    _drain(mode)
    assert not Run.objects.filter(job=risk_job).exists()  # nothing recorded: nobody paged
    assert Run.objects.filter(job__key__endswith="close").count() == 1
    assert not Alert.objects.exists()
    assert rejected == 1  # refused at the edge in both modes, with its reason
    assert "is not owned by this ingest key's team" in message
    assert not Span.objects.filter(name="var").exists()


@pytest.mark.django_db
def test_the_queued_drain_sets_aside_a_run_whose_job_changed_hands_meanwhile(
    settings, ledger_key, team_a, team_b
):
    settings.BATCHWATCH_INGEST_RUNS = "queued"
    job = catalog.job_create(engine="other", namespace="ledger", name="moved", owner_team=team_a)
    assert _export(ledger_key, [_span("ledger", "moved")])[0] == 0  # ledger's at the edge
    Job.objects.filter(pk=job.pk).update(owner_team=team_b)  # then risk's, before the drain
    runs_drain(now=NOW)
    assert not Run.objects.filter(job=job).exists()
    assert QuarantinedItem.objects.filter(reason="not_owned").count() == 1


@pytest.mark.django_db
def test_a_team_key_registers_new_jobs_to_its_team_unless_the_rules_say_otherwise(
    mode, ledger_key, team_a, team_b
):
    catalog.ownership_rule_create(team=team_b, namespace_pattern="risk-*")
    rejected, _ = _export(ledger_key, [_span("risk-prod", "pd"), _span("etl", "fresh")])
    _drain(mode)
    assert not Job.objects.filter(namespace="risk-prod").exists()
    assert not Run.objects.filter(job__namespace="risk-prod").exists()
    fresh = Job.objects.get(namespace="etl")
    assert fresh.owner_team == team_a
    assert Run.objects.filter(job=fresh).count() == 1
    assert rejected == 1


@pytest.mark.django_db
def test_a_team_key_records_runs_of_its_own_teams_jobs(mode, ledger_key, team_a):
    own = catalog.job_create(engine="other", namespace="ledger", name="own", owner_team=team_a)
    rejected, _ = _export(ledger_key, [_span("ledger", "own"), _span("ledger", "own")])
    _drain(mode)
    assert rejected == 0
    assert Run.objects.filter(job=own).count() == 2


@pytest.mark.django_db
def test_a_key_without_team_and_anonymous_ingest_keep_recording_any_job(mode, risk_job):
    teamless = ingest_key_create(name="shared")[1]
    assert _export(teamless, [_span("risk", "var")])[0] == 0
    assert _export(None, [_span("risk", "var")])[0] == 0
    _drain(mode)
    assert Run.objects.filter(job=risk_job).count() == 2


def _child(trace: str, parent: str, name: str = "step") -> dict:
    """A span that reports no run (no batch.* attributes): a step of whatever run is above it."""
    n = next(_ids)
    return {
        "traceId": trace,
        "spanId": f"{n:016x}",
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(int((NOW - timedelta(minutes=4)).timestamp()) * 10**9),
        "endTimeUnixNano": str(int((NOW - timedelta(minutes=2)).timestamp()) * 10**9),
    }


def _page_spans(run: Run) -> set[str]:
    return {node.span.name for node in run_span_tree(run).flat}


@pytest.mark.django_db
def test_the_spans_of_a_refused_run_are_not_stored(mode, ledger_key, risk_job):
    root = _span("risk", "var")
    spans = [root, _child(root["traceId"], root["spanId"], "planted")]
    spans.append(_child(root["traceId"], spans[1]["spanId"], "planted-deeper"))
    rejected, message = _export(ledger_key, spans)
    _drain(mode)
    assert rejected == 3
    assert "is not owned by this ingest key's team" in message
    assert not Span.objects.exists() and not Run.objects.exists()


@pytest.mark.django_db
def test_spans_below_another_teams_run_are_refused_and_its_page_shows_none(
    mode, ledger_key, team_a, team_b, risk_job
):
    risk_key = ingest_key_create(name="risk exporter", team=team_b)[1]
    root = _span("risk", "var")
    trace = root["traceId"]
    assert _export(risk_key, [root, _child(trace, root["spanId"], "risk-step")])[0] == 0
    _drain(mode)
    risk_run = Run.objects.get(job=risk_job)
    # ledger's key: a span below risk's run, one hanging from a step of it, an orphan in the
    # trace; and a run of ledger's own job below risk's run (a cross-team trace), with a step.
    step = Span.objects.get(name="risk-step").span_id
    own = _span("ledger", "close", "succeeded") | {"traceId": trace, "parentSpanId": step}
    spans = [
        _child(trace, root["spanId"], "planted"),
        _child(trace, step, "planted-below-step"),
        _child(trace, "f" * 16, "planted-orphan"),
        own,
        _child(trace, own["spanId"], "ledger-step"),
    ]
    rejected, message = _export(ledger_key, spans)
    _drain(mode)
    assert rejected == 3
    assert "belongs to a run this ingest key's team does not own" in message
    assert not Span.objects.filter(name__startswith="planted").exists()
    assert _page_spans(risk_run) == {"var", "risk-step", "close", "ledger-step"}
    ledger_run = Run.objects.get(job__namespace="ledger")
    assert ledger_run.job.owner_team == team_a
    assert _page_spans(ledger_run) == {"close", "ledger-step"}


@pytest.mark.django_db
def test_a_team_keys_own_trace_keeps_children_sent_before_their_root(mode, ledger_key, team_a):
    own = catalog.job_create(engine="other", namespace="ledger", name="own", owner_team=team_a)
    root = _span("ledger", "own")
    assert _export(ledger_key, [_child(root["traceId"], root["spanId"], "early")])[0] == 0
    assert _export(ledger_key, [root])[0] == 0
    _drain(mode)
    assert _page_spans(Run.objects.get(job=own)) == {"own", "early"}


def _lineage(event: dict, key: str):
    return Client().post(
        "/api/v1/lineage",
        json.dumps(event),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )


@pytest.mark.django_db
def test_openlineage_about_another_teams_job_is_403_and_records_nothing(team_a, team_b):
    event = json.loads(sample("openlineage/0001_POST_api_v1_lineage.json"))
    risk_key = ingest_key_create(name="risk", team=team_b)[1]
    assert _lineage(event, risk_key).status_code == 201  # registers the job to risk
    job = Job.objects.get()
    assert job.owner_team == team_b
    runs = list(Run.objects.values_list("pk", "state", "updated_at"))
    ledger_key = ingest_key_create(name="ledger", team=team_a)[1]
    event["eventType"] = "FAIL"
    event["eventTime"] = NOW.isoformat()
    response = _lineage(event, ledger_key)
    assert response.status_code == 403, response.content
    assert "is not owned by this ingest key's team" in response.json()["error"]
    assert list(Run.objects.values_list("pk", "state", "updated_at")) == runs
    assert not Alert.objects.exists()


# --- silences ---------------------------------------------------------------------------


@pytest.fixture
def team_c(db):
    return catalog.team_create(slug="fx", name="FX")


def _silence_body(*matchers: str, **extra) -> dict:
    return {
        "matchers": list(matchers),
        "starts_at": NOW.isoformat(),
        "ends_at": (NOW + timedelta(days=14)).isoformat(),
        "comment": "quiet please",
        **extra,
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "matchers",
    [
        ['team="ledger"'],  # another team, by name
        ['alertname="X"', 'team="ledger"'],
        ['alertname=~".+"', 'team=~"led.*"'],  # a regex on team
        ['alertname="X"', 'team!="risk"'],  # a negation on team
    ],
)
def test_a_member_cannot_silence_another_teams_alerts(api_as, outsider, team_a, matchers):
    response = api_as(outsider).post("/api/v1/silences/", _silence_body(*matchers), format="json")
    assert response.status_code in (400, 403), response.content
    assert not Silence.objects.exists()


@pytest.mark.django_db
def test_a_members_silence_is_confined_to_their_team(api_as, outsider, team_a):
    response = api_as(outsider).post(
        "/api/v1/silences/", _silence_body('alertname=~".+"'), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["matchers"] == ['alertname=~".+"', 'team="risk"']
    assert Silence.objects.get().matchers == ['alertname=~".+"', 'team="risk"']


@pytest.mark.django_db
def test_a_member_of_several_teams_chooses_one_of_theirs(api_as, outsider, team_a, team_c):
    catalog.membership_set(team=team_c, user=outsider)
    body = _silence_body('alertname="X"')
    response = api_as(outsider).post("/api/v1/silences/", body, format="json")
    assert response.status_code == 400 and "several teams" in str(response.json())
    response = api_as(outsider).post("/api/v1/silences/", {**body, "team": "ledger"}, format="json")
    assert response.status_code == 403
    response = api_as(outsider).post("/api/v1/silences/", {**body, "team": "fx"}, format="json")
    assert response.status_code == 201, response.content
    assert Silence.objects.get().matchers == ['alertname="X"', 'team="fx"']


@pytest.mark.django_db
def test_only_staff_create_global_silences(api_as, admin, teammate):
    response = api_as(admin).post(
        "/api/v1/silences/", _silence_body('alertname="X"'), format="json"
    )
    assert response.status_code == 201
    assert Silence.objects.get().matchers == ['alertname="X"']  # global: nothing added
    assert api_as(teammate).post(
        "/api/v1/silences/", _silence_body('alertname="X"'), format="json"
    ).json()["matchers"] == ['alertname="X"', 'team="ledger"']


def _silence(*matchers: str) -> Silence:
    return Silence.objects.create(
        matchers=list(matchers),
        starts_at=NOW - timedelta(minutes=1),
        ends_at=NOW + timedelta(days=1),
        comment="c",
        created_at=NOW,
    )


@pytest.mark.django_db
def test_expiring_a_silence_is_for_its_team_and_staff(api_as, outsider, teammate, admin):
    ledgers = _silence('team="ledger"', 'job="close"')
    global_one = _silence('alertname="X"')
    # (not even seen: another team's silence does not exist for an outsider; a global one is
    # read by everyone, as it holds every team's alerts, and changed by staff only)
    assert api_as(outsider).delete(f"/api/v1/silences/{ledgers.pk}/").status_code == 404
    assert api_as(teammate).delete(f"/api/v1/silences/{global_one.pk}/").status_code == 403
    global_one.refresh_from_db()
    assert global_one.state_at(datetime.now(UTC)) == "active"
    ledgers.refresh_from_db()
    assert ledgers.state_at(datetime.now(UTC)) == "active"
    assert api_as(teammate).delete(f"/api/v1/silences/{ledgers.pk}/").status_code == 204
    assert api_as(admin).delete(f"/api/v1/silences/{global_one.pk}/").status_code == 204


@pytest.mark.django_db
def test_the_silence_page_confines_and_checks_the_team(client, outsider, teammate):
    ledgers = _silence('team="ledger"')
    client.force_login(outsider)
    page = client.post(
        "/silences/",
        {"matchers": 'team="ledger"', "hours": "2", "comment": "mine now"},
        follow=True,
    ).content.decode()
    assert "not a member of team" in page
    client.post("/silences/", {"action": "expire", "silence": ledgers.pk, "confirm": "1"})
    ledgers.refresh_from_db()
    assert ledgers.state_at(datetime.now(UTC)) == "active"
    assert Silence.objects.count() == 1
    client.post("/silences/", {"matchers": 'job="var"', "hours": "2", "comment": "rerun"})
    assert Silence.objects.latest("pk").matchers == ['job="var"', 'team="risk"']
    client.force_login(teammate)
    client.post("/silences/", {"action": "expire", "silence": ledgers.pk, "confirm": "1"})
    ledgers.refresh_from_db()
    assert ledgers.state_at(datetime.now(UTC)) == "expired"


# --- maintenance windows ----------------------------------------------------------------


def _window_body(*matchers: str, **extra) -> dict:
    return {
        "name": "patching",
        "matchers": list(matchers),
        "starts_at": "2026-12-05T07:00:00Z",
        "duration": "02:00:00",
        "timezone": "UTC",
        **extra,
    }


@pytest.fixture
def ledger_window(db, team_a):
    return MaintenanceWindow.objects.create(
        name="ledger patching",
        matchers=['team="ledger"'],
        starts_at=NOW + timedelta(days=1),
        duration=timedelta(hours=2),
    )


@pytest.mark.django_db
def test_maintenance_windows_are_for_their_team_and_staff(
    api_as, outsider, teammate, admin, ledger_window
):
    url = f"/api/v1/maintenance-windows/{ledger_window.pk}/"
    # (not even seen: another team's window does not exist)
    assert api_as(outsider).patch(url, {"name": "mine"}, format="json").status_code == 404
    assert api_as(outsider).put(url, _window_body('team="risk"'), format="json").status_code == 404
    assert api_as(outsider).delete(url).status_code == 404
    ledger_window.refresh_from_db()
    assert ledger_window.name == "ledger patching"
    assert ledger_window.matchers == ['team="ledger"']
    assert api_as(teammate).patch(url, {"name": "ours"}, format="json").status_code == 200
    # a member cannot move their window onto another team's alerts
    response = api_as(teammate).patch(url, {"matchers": ['team="risk"']}, format="json")
    assert response.status_code == 403
    assert api_as(admin).delete(url).status_code == 204
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.django_db
def test_maintenance_windows_are_created_confined(api_as, outsider, admin, team_a):
    url = "/api/v1/maintenance-windows/"
    assert (
        api_as(outsider).post(url, _window_body('team="ledger"'), format="json").status_code == 403
    )
    assert (
        api_as(outsider).post(url, _window_body('team=~".*"', 'job="x"'), format="json").status_code
        == 400
    )
    response = api_as(outsider).post(url, _window_body('job="var"'), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["matchers"] == ['job="var"', 'team="risk"']
    response = api_as(admin).post(url, _window_body('job="any"'), format="json")
    assert response.json()["matchers"] == ['job="any"']
    assert MaintenanceWindow.objects.count() == 2


# --- incidents without a team -----------------------------------------------------------


@pytest.fixture
def teamless_incident(db):
    return Incident.objects.create(
        title="Nobody's",
        team=None,
        group_key="{}:{}",
        created_at=NOW,
        group_wait=timedelta(seconds=30),
        group_interval=timedelta(minutes=5),
        repeat_interval=timedelta(hours=4),
    )


@pytest.mark.django_db
def test_an_incident_without_team_is_staffs_to_act_on(
    api_as, client, teammate, outsider, admin, teamless_incident
):
    url = f"/api/v1/incidents/{teamless_incident.pk}/"
    # (not even seen: to the members of a team, an incident of none does not exist)
    assert api_as(teammate).post(url + "acknowledge/").status_code == 404
    assert api_as(outsider).post(url + "resolve/").status_code == 404
    client.force_login(outsider)
    client.post(f"/incidents/{teamless_incident.pk}/act", {"action": "resolve"})
    teamless_incident.refresh_from_db()
    assert teamless_incident.state == Incident.State.TRIGGERED
    assert api_as(admin).post(url + "acknowledge/").status_code == 200
    teamless_incident.refresh_from_db()
    assert teamless_incident.state == Incident.State.ACKNOWLEDGED


@pytest.mark.django_db
def test_flink_status_events_about_another_teams_job_are_refused_per_record(team_a, team_b):
    def record(job_id: str, job_name: str) -> dict:
        attrs = {"name": "JobStatusChangeEvent", "job_id": job_id, "job_name": job_name}
        return {
            "timeUnixNano": str(int(NOW.timestamp()) * 10**9),
            "attributes": [
                {"key": k, "value": {"stringValue": v}}
                for k, v in {**attrs, "newJobStatus": "FAILED"}.items()
            ],
        }

    catalog.job_create(engine="flink", namespace="flink", name="risk-agg", owner_team=team_b)
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": []},
                "scopeLogs": [
                    {"logRecords": [record("a" * 32, "risk-agg"), record("b" * 32, "ledger-agg")]}
                ],
            }
        ]
    }
    key = ingest_key_create(name="ledger", team=team_a)[1]
    response = Client().post(
        "/v1/logs",
        json.dumps(document),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200, response.content
    partial = response.json()["partialSuccess"]
    assert int(partial["rejectedLogRecords"]) == 1
    assert "flink:flink/risk-agg is not owned by this ingest key's team" in partial["errorMessage"]
    assert list(Run.objects.values_list("job__key", "job__owner_team__slug")) == [
        ("flink:flink/ledger-agg", "ledger")
    ]
