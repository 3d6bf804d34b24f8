"""Poison input at the alert intake edges: refused with a 400 and a sentence, or cleaned so
that what is answered 2xx is processed; a healthy alert sent after each one still opens its
incident. And the queued drain: a batch that cannot be processed never holds up the others,
and its bad alerts are quarantined while its good ones are processed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from batchwatch.alerts.models import Alert, AlertIntake, Incident, Integration
from batchwatch.alerts.services import intake_drain, integration_create
from batchwatch.alerts.wire import event_record
from batchwatch.core.models import QuarantinedItem
from batchwatch.core.quarantine import quarantine_retry
from tests.alerts.conftest import firing

AM = "/api/v1/integrations/alertmanager/"
HOOK = "/api/v1/integrations/webhook/"
PD = "/v2/enqueue"
T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 50_000 + b"1" + b"}" * 50_000


@pytest.fixture(params=["inline", "queued"])
def intake_mode(request, settings):
    settings.BATCHWATCH_ALERT_INTAKE = request.param
    return request.param


@pytest.fixture
def tokens(db, team_a):
    return {
        "am": integration_create(name="prom", kind=Integration.Kind.ALERTMANAGER, team=team_a)[1],
        "pd": integration_create(name="pd", kind=Integration.Kind.PAGERDUTY, team=team_a)[1],
        "hook": integration_create(name="hook", kind=Integration.Kind.WEBHOOK, team=team_a)[1],
    }


def post(path, body, token=None):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().post(path, data=data, content_type="application/json", **headers)


def am_alert(name="LedgerLate", status="firing", **fields):
    return {
        "status": status,
        "labels": {"alertname": name, "job": "ledger", "severity": "critical"},
        "annotations": {"summary": f"{name} fired"},
        "startsAt": "2026-11-22T03:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        **fields,
    }


def am_payload(*alerts):
    return {"version": "4", "status": "firing", "receiver": "batchwatch", "alerts": list(alerts)}


def drain_if_queued(mode):
    if mode == "queued":
        intake_drain(now=datetime.now(UTC))


def healthy_alert_pages(tokens, mode, name="Healthy"):
    """A healthy alert after the poison: it opens its own incident (exactly one more)."""
    before = Incident.objects.count()
    alert = am_alert(name)
    alert["labels"]["job"] = name.lower()  # a group of its own
    response = post(AM, am_payload(alert), tokens["am"])
    assert response.status_code == 200, response.content
    drain_if_queued(mode)
    assert Incident.objects.count() == before + 1
    assert Alert.objects.filter(labels__alertname=name, status="firing").count() == 1


# --- Times out of range ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, status",
    [
        ("startsAt", "9999-12-31T23:00:00-05:00", "firing"),  # year 10000 in UTC
        ("endsAt", "9999-12-31T23:00:00-05:00", "resolved"),
        ("startsAt", "0001-01-02T00:30:00+01:00", "firing"),  # year 1
        ("startsAt", "1969-12-31T23:59:59Z", "firing"),
        ("startsAt", "2026-13-45T00:00:00Z", "firing"),
        ("startsAt", "2026-11-22T03:00:00+25:00", "firing"),
    ],
)
def test_alertmanager_times_out_of_range_are_refused_with_a_sentence(
    tokens, intake_mode, field, value, status
):
    response = post(AM, am_payload(am_alert(status=status, **{field: value})), tokens["am"])
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert len(errors) == 1 and errors[0].startswith(f"alerts[0].{field} ")
    assert value in errors[0]
    assert AlertIntake.objects.count() == 0 and Alert.objects.count() == 0
    healthy_alert_pages(tokens, intake_mode)


def test_an_out_of_range_time_is_refused_by_every_intake(tokens):
    too_late = "9999-12-31T23:00:00-05:00"
    response = post(HOOK, {"labels": {"alertname": "x"}, "starts_at": too_late}, tokens["hook"])
    assert response.status_code == 400
    assert "1970 to 9999 in UTC" in response.json()["errors"][0]
    response = post(PD, pd_event(tokens["pd"], payload={"timestamp": too_late}))
    assert response.status_code == 400
    assert "1970 to 9999 in UTC" in response.json()["errors"][0]
    assert Alert.objects.count() == 0


# --- Deep nesting ---------------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["list", "object"])
@pytest.mark.parametrize("endpoint", ["am", "hook", "pd"])
def test_deeply_nested_json_is_refused(tokens, intake_mode, endpoint, body):
    path = {"am": AM, "hook": HOOK, "pd": PD}[endpoint]
    response = post(path, body, None if endpoint == "pd" else tokens[endpoint])
    assert response.status_code == 400, response.content
    assert "nested too deeply" in response.json()["errors"][0]
    healthy_alert_pages(tokens, intake_mode)


def test_nesting_within_the_parser_but_beyond_our_depth_is_refused(tokens):
    labels = {"alertname": "Deep", "job": "ledger"}
    details: object = "bottom"
    for _ in range(300):  # the parser reads 1,024 levels
        details = {"d": details}
    response = post(
        HOOK, {"labels": labels, "annotations": {"summary": "x"}, "x": details}, tokens["hook"]
    )
    assert response.status_code == 400
    assert "at most 254 levels" in response.json()["errors"][0]


# --- PagerDuty: wrong types -----------------------------------------------------------------


def pd_event(routing_key, **fields):
    payload = {"summary": "ledger late", "source": "airflow", "severity": "critical"}
    payload.update(fields.pop("payload", {}))
    return {"routing_key": routing_key, "event_action": "trigger", "payload": payload, **fields}


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"links": 5}, "'links' must be a list"),
        ({"links": {"href": "x"}}, "'links' must be a list"),
        ({"links": ["http://x"]}, "'links[0]' must be an object"),
        ({"links": [{"href": 5, "text": "x"}]}, "'links[0].href' must be a string"),
        ({"client_url": 5}, "'client_url' must be a string"),
        ({"client": ["x"]}, "'client' must be a string"),
        ({"images": "x"}, "'images' must be a list"),
        ({"payload": {"component": 5}}, "'payload.component' must be a string"),
        ({"payload": {"group": {}}}, "'payload.group' must be a string"),
    ],
)
def test_pagerduty_wrong_types_are_refused(tokens, intake_mode, fields, error):
    response = post(PD, pd_event(tokens["pd"], **fields))
    assert response.status_code == 400, response.content
    assert response.json()["status"] == "invalid event"
    assert any(e.startswith(error) for e in response.json()["errors"]), response.json()
    assert Alert.objects.count() == 0
    healthy_alert_pages(tokens, intake_mode)


def test_pagerduty_links_and_any_custom_details_are_taken(tokens, intake_mode):
    event = pd_event(
        tokens["pd"],
        dedup_key="pd-1",
        links=[{"href": "http://runbook", "text": "runbook"}],
        payload={"custom_details": ["a", 1]},
    )
    response = post(PD, event)
    assert response.status_code == 202, response.content
    drain_if_queued(intake_mode)
    alert = Alert.objects.get()
    assert alert.annotations["custom_details"] == '["a", 1]'
    assert Incident.objects.count() == 1


@pytest.mark.parametrize(
    "field, value",
    [("summary", {"x": 1}), ("severity", 3), ("url", ["x"])],
)
def test_webhook_wrong_types_are_refused(tokens, field, value):
    body = {"labels": {"alertname": "x"}, field: value}
    response = post(HOOK, body, tokens["hook"])
    assert response.status_code == 400
    assert response.json()["errors"] == [f"alerts[0].{field} must be a string"]


# --- NUL characters, lone surrogates, label names -------------------------------------------


def test_nul_and_lone_surrogates_are_cleaned_and_the_alert_is_processed(tokens, intake_mode):
    # Written by hand: json.dumps would escape the surrogate the same way, but NUL too.
    body = (
        b'{"version":"4","alerts":[{"status":"firing",'
        b'"labels":{"alertname":"Nul\\u0000Late","job":"ledger","instance":"a\\ud800b"},'
        b'"annotations":{"summary":"late\\u0000 \\udfff","description":"ok \\ud83d\\ude00"},'
        b'"startsAt":"2026-11-22T03:00:00Z","generatorURL":"http://x/\\u0000"}]}'
    )
    response = post(AM, body, tokens["am"])
    assert response.status_code == 200, response.content
    drain_if_queued(intake_mode)
    alert = Alert.objects.get()
    assert alert.labels["alertname"] == "NulLate"
    assert alert.labels["instance"] == "a\ufffdb"  # as Go's decoder (Alertmanager's) reads it
    assert alert.summary == "late \ufffd"
    assert alert.annotations["description"] == "ok \U0001f600"  # a real pair is kept
    assert alert.generator_url == "http://x/"
    assert Incident.objects.count() == 1
    assert QuarantinedItem.objects.count() == 0
    healthy_alert_pages(tokens, intake_mode)


def test_nul_in_pagerduty_and_webhook_fields_is_removed(tokens, intake_mode):
    body = json.dumps(
        pd_event(
            tokens["pd"],
            dedup_key="k\x00",
            payload={"summary": "late\x00", "custom_details": {"a": "\x00"}},
        )
    ).encode()
    assert post(PD, body).status_code == 202
    hook = {"labels": {"alertname": "Hook\x00"}, "summary": "s\x00", "dedup_key": "d\x00"}
    assert post(HOOK, hook, tokens["hook"]).status_code == 200
    drain_if_queued(intake_mode)
    assert sorted(Alert.objects.values_list("fingerprint", "summary")) == [
        ("d", "s"),
        ("k", "late"),
    ]


@pytest.mark.parametrize(
    "labels, error",
    [
        ({"alertname": "x", "": "empty"}, "alerts[0].labels has the name '': names must be"),
        ({"alertname": "x", "a\tb": "tab"}, "alerts[0].labels has the name 'a\\tb'"),
        ({"alertname": "x", "a\x7fb": "del"}, "alerts[0].labels has the name"),
    ],
)
def test_label_names_alertmanager_would_refuse_are_refused(tokens, intake_mode, labels, error):
    response = post(AM, am_payload({"status": "firing", "labels": labels}), tokens["am"])
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0].startswith(error)
    healthy_alert_pages(tokens, intake_mode)


@pytest.mark.parametrize("name", ["a\\u0000b", "\\ud800"])
def test_a_name_with_nul_or_a_lone_surrogate_is_refused(tokens, name):
    body = (
        b'{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"x","'
        + name.encode()
        + b'":"v"}}]}'
    )
    response = post(AM, body, tokens["am"])
    assert response.status_code == 400, response.content
    assert "NUL character or a lone surrogate" in response.json()["errors"][0]


# --- The queued drain -----------------------------------------------------------------------


def queue_batch(source, records, received_at, integration=None):
    return AlertIntake.objects.create(
        source=source, integration=integration, received_at=received_at, events=records
    )


def test_an_unreadable_record_is_quarantined_and_the_rest_is_processed(tokens, settings):
    good = event_record(firing({"alertname": "Good", "job": "ledger"}))
    broken = ["trigger", {"alertname": "Bad"}, "fp", {}, "", "", "not a time", None, None, "", []]
    first = queue_batch("am", [broken, good], T0)
    second = queue_batch("am", [event_record(firing({"alertname": "Next"}))], T0)
    assert intake_drain(now=T0 + timedelta(seconds=2)) == 2
    assert sorted(Alert.objects.values_list("labels__alertname", flat=True)) == ["Good", "Next"]
    assert Incident.objects.count() == 2
    item = QuarantinedItem.objects.get()
    assert (item.kind, item.reason) == ("alert_intake", "undecodable")
    assert item.origin == f"AlertIntake {first.pk} (am)"
    assert AlertIntake.objects.filter(processed_at=None).count() == 0
    assert second.pk


def test_one_failing_alert_of_a_batch_is_quarantined_and_the_others_processed(tokens):
    good = event_record(firing({"alertname": "Good", "job": "ledger"}))
    # A summary that is not a string gets past the stored form, then fails in processing.
    bad = event_record(firing({"alertname": "Bad", "job": "ledger"}))
    bad[4] = {"not": "a string"}
    batch = queue_batch("am", [good, bad], T0)
    after = queue_batch("other", [event_record(firing({"alertname": "After"}))], T0)
    assert intake_drain(now=T0 + timedelta(seconds=2)) == 2
    assert sorted(Alert.objects.values_list("labels__alertname", flat=True)) == [
        "After",
        "Good",
    ]
    assert Incident.objects.count() == 2
    item = QuarantinedItem.objects.get()
    assert (item.kind, item.reason) == ("alert_intake", "processing_error")
    assert "TypeError" in item.detail
    batch.refresh_from_db()
    assert batch.processed_at is not None
    assert batch.error.startswith("1 alert(s) quarantined, 1 processed; ")
    after.refresh_from_db()
    assert after.processed_at is not None and after.error == ""
    # The drain does not take it again.
    assert intake_drain(now=T0 + timedelta(seconds=4)) == 0
    assert QuarantinedItem.objects.count() == 1


def test_a_quarantined_alert_can_be_retried(tokens):
    integration = Integration.objects.get(kind=Integration.Kind.ALERTMANAGER)
    bad = event_record(firing({"alertname": "Later", "job": "ledger"}))
    bad[4] = ["not", "a string"]
    queue_batch("alertmanager", [bad], T0, integration)
    intake_drain(now=T0)
    item = QuarantinedItem.objects.get()
    assert quarantine_retry([item], now=T0 + timedelta(minutes=1)) == (0, 1)
    # Fixed by hand (what an operator would do after a fix): the retry processes it.
    payload = json.loads(item.payload)
    payload["events"][0][4] = "fixed"
    item.payload = json.dumps(payload)
    item.save()
    assert quarantine_retry([item], now=T0 + timedelta(minutes=2)) == (1, 0)
    alert = Alert.objects.get()
    assert (alert.summary, alert.integration_id, alert.labels["team"]) == (
        "fixed",
        integration.pk,
        "ledger",
    )
    assert Incident.objects.count() == 1
    item.refresh_from_db()
    assert item.state == QuarantinedItem.State.RETRIED
