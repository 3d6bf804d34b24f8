"""HTTP intake: Alertmanager webhooks (captured samples), PagerDuty Events v2, the generic
webhook; per-integration tokens and identical dedup/resolve semantics."""

from __future__ import annotations

import gzip
import json

import pytest
from django.test import Client

from batchwatch.alerts.models import Alert, Incident, Integration
from batchwatch.alerts.services import integration_create
from tests.ingest.helpers import sample as sample_bytes


@pytest.fixture
def am_token(db, team_a):
    _, token = integration_create(name="prom", kind=Integration.Kind.ALERTMANAGER, team=team_a)
    return token


@pytest.fixture
def pd_token(db):
    return integration_create(name="pd", kind=Integration.Kind.PAGERDUTY)[1]


@pytest.fixture
def hook_token(db):
    return integration_create(name="hook", kind=Integration.Kind.WEBHOOK)[1]


def post(path, body, token=None, **headers):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Client().post(path, data=data, content_type="application/json", **headers)


def test_alertmanager_firing_then_resolved_samples(am_token):
    response = post(
        "/api/v1/integrations/alertmanager/",
        sample_bytes("alertmanager/0001_POST_alertmanager_webhook.json"),
        am_token,
    )
    assert response.status_code == 200, response.content
    assert response.json()["new"] == 2
    alerts = Alert.objects.order_by("labels__instance")
    assert [a.labels["instance"] for a in alerts] == ["worker-a", "worker-b"]
    assert alerts[0].labels["team"] == "ledger"  # from the integration's team
    assert alerts[0].summary == "nightly_etl failing on worker-a"
    assert Incident.objects.count() == 1  # default route groups by team and job
    # The same payload again (Alertmanager re-sends at group_interval): no new rows.
    post(
        "/api/v1/integrations/alertmanager/",
        sample_bytes("alertmanager/0001_POST_alertmanager_webhook.json"),
        am_token,
    )
    assert Alert.objects.count() == 2 and Alert.objects.first().received_count == 2
    response = post(
        "/api/v1/integrations/alertmanager/",
        sample_bytes("alertmanager/0002_POST_alertmanager_webhook.json"),
        am_token,
    )
    assert response.json()["resolved"] == 2
    assert set(Alert.objects.values_list("status", flat=True)) == {"resolved"}


def test_alertmanager_token_in_the_url_and_gzip(am_token):
    body = gzip.compress(sample_bytes("alertmanager/0001_POST_alertmanager_webhook.json"))
    response = post(
        f"/api/v1/integrations/alertmanager/{am_token}/", body, HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body, encoding, status",
    [
        (b"x" * 2000, "", 413),
        (gzip.compress(b" " * 10_000, mtime=0), "gzip", 413),  # (mtime=0: one id per worker)
        (b"{}", "br", 415),
    ],
)
def test_alert_bodies_over_the_limit_or_in_an_unknown_encoding_are_refused(
    am_token, settings, body, encoding, status
):
    settings.BATCHWATCH_INGEST_MAX_BODY_BYTES = 1000
    headers = {"HTTP_CONTENT_ENCODING": encoding} if encoding else {}
    response = post(f"/api/v1/integrations/alertmanager/{am_token}/", body, **headers)
    assert response.status_code == status
    assert response.json()["status"] == "error"
    assert not Alert.objects.exists()


@pytest.mark.parametrize(
    "token, status",
    [(None, 401), ("bwa_wrong", 401)],
)
def test_alertmanager_refuses_unknown_tokens(am_token, token, status):
    response = post(
        "/api/v1/integrations/alertmanager/",
        sample_bytes("alertmanager/0001_POST_alertmanager_webhook.json"),
        token,
    )
    assert response.status_code == status
    assert "integration token" in response.json()["message"]
    assert not Alert.objects.exists()


def test_a_token_of_another_kind_is_refused(pd_token):
    response = post(
        "/api/v1/integrations/alertmanager/",
        sample_bytes("alertmanager/0001_POST_alertmanager_webhook.json"),
        pd_token,
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body, fragment",
    [
        (b"{not json", "not valid JSON"),
        ({"version": "3", "alerts": []}, 'version must be "4"'),
        ({"version": "4", "alerts": [{"status": "firing", "labels": {}}]}, "must not be empty"),
        ({"version": "4", "alerts": [{"status": "odd", "labels": {"a": "b"}}]}, "status"),
        ({"version": "4", "alerts": [{"status": "firing", "labels": {"a": ["x"]}}]}, "string"),
        (
            {"version": "4", "alerts": [{"status": "firing", "labels": {"a": "b", "c": None}}]},
            "alerts[0].labels.c must be a string",
        ),
        (
            {"version": "4", "alerts": [{"status": "firing", "labels": {"a": "b"}, "endsAt": 5}]},
            "alerts[0].endsAt must be an RFC 3339 time string",
        ),
        (
            {
                "version": "4",
                "alerts": [{"status": "firing", "labels": {"a": "b"}, "startsAt": "yesterday"}],
            },
            "RFC 3339",
        ),
    ],
)
def test_bad_alertmanager_payloads_get_400_with_the_reason(am_token, body, fragment):
    response = post("/api/v1/integrations/alertmanager/", body, am_token)
    assert response.status_code == 400
    assert any(fragment in e for e in response.json()["errors"]), response.json()
    assert not Alert.objects.exists()


def test_alertmanager_parsing_keeps_long_and_numeric_values_as_before():
    """The fast path (short strings, taken as they are) and the careful one agree."""
    from datetime import UTC, datetime

    from batchwatch.alerts.wire import MAX_VALUE, label_fingerprint, parse_alertmanager

    long = "x" * (MAX_VALUE + 10)
    body = {
        "version": "4",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "A", "job": "j", "shard": 3},
                "annotations": {"description": long, "summary": "s" * 600},
                "startsAt": "2026-11-22T03:00:00.123456789Z",
            },
            {
                "status": "resolved",
                "labels": {"alertname": "A", "job": "k"},
                "startsAt": "2026-11-22T03:00:00.123456789Z",
                "endsAt": "2026-11-22T04:00:00+01:00",
            },
        ],
    }
    first, second = parse_alertmanager(json.dumps(body).encode(), now=datetime.now(UTC))
    assert first.labels == {"alertname": "A", "job": "j", "shard": "3"}
    assert first.fingerprint == label_fingerprint({"alertname": "A", "job": "j", "shard": "3"})
    assert first.annotations["description"] == long[:MAX_VALUE]
    assert first.annotations["summary"] == "s" * 600
    assert first.starts_at == second.starts_at == datetime(2026, 11, 22, 3, 0, 0, 123456, UTC)
    assert second.ends_at == datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def test_the_label_fingerprint_is_stable_across_releases():
    from batchwatch.alerts.wire import label_fingerprint

    # Stored alerts are found again by it: it must not change.
    assert label_fingerprint({"job": "ledger", "alertname": "Late"}) == "da33ae37fb3d60af"


def pd_event(token, action, **extra):
    event = {"routing_key": token, "event_action": action, **extra}
    if action == "trigger":
        event.setdefault(
            "payload",
            {
                "summary": "Ledger close failed",
                "source": "airflow-prod",
                "severity": "critical",
                "custom_details": {"team": "ledger", "rows": 0},
            },
        )
    return event


def test_pagerduty_trigger_acknowledge_resolve(pd_token):
    response = post("/v2/enqueue", pd_event(pd_token, "trigger", dedup_key="close-2026-11-22"))
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "close-2026-11-22",
    }
    alert = Alert.objects.get()
    assert alert.fingerprint == "close-2026-11-22" and alert.labels["team"] == "ledger"
    assert alert.labels["severity"] == "critical"
    incident = Incident.objects.get()
    # A repeated trigger appends to the same alert and incident.
    post("/v2/enqueue", pd_event(pd_token, "trigger", dedup_key="close-2026-11-22"))
    assert Alert.objects.count() == 1 and Incident.objects.count() == 1
    assert (
        post(
            "/v2/enqueue", pd_event(pd_token, "acknowledge", dedup_key="close-2026-11-22")
        ).status_code
        == 202
    )
    incident.refresh_from_db()
    assert incident.state == Incident.State.ACKNOWLEDGED
    assert (
        post("/v2/enqueue", pd_event(pd_token, "resolve", dedup_key="close-2026-11-22")).status_code
        == 202
    )
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED


def test_pagerduty_trigger_without_dedup_key_gets_one(pd_token):
    response = post("/v2/enqueue", pd_event(pd_token, "trigger"))
    assert response.status_code == 202
    assert Alert.objects.get().fingerprint == response.json()["dedup_key"]


def test_dedup_keys_are_scoped_per_integration(pd_token):
    other = integration_create(name="pd2", kind=Integration.Kind.PAGERDUTY)[1]
    post("/v2/enqueue", pd_event(pd_token, "trigger", dedup_key="same"))
    post("/v2/enqueue", pd_event(other, "trigger", dedup_key="same"))
    assert Alert.objects.count() == 2


@pytest.mark.parametrize(
    "event, fragment",
    [
        ({"event_action": "trigger"}, "routing_key"),
        ({"routing_key": "x", "event_action": "explode"}, "event_action"),
        ({"routing_key": "x", "event_action": "resolve"}, "dedup_key"),
        (
            {
                "routing_key": "x",
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "s", "severity": "meh"},
            },
            "severity",
        ),
        (
            {"routing_key": "x", "event_action": "trigger", "payload": {"severity": "info"}},
            "summary",
        ),
    ],
)
def test_invalid_pagerduty_events_answer_like_pagerduty(pd_token, event, fragment):
    response = post("/v2/enqueue", event)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any(fragment in e for e in body["errors"])


def test_pagerduty_unknown_routing_key(db):
    response = post("/v2/enqueue", pd_event("nope", "trigger"))
    assert response.status_code == 400 and response.json()["errors"] == ["Invalid routing key"]


def test_generic_webhook(hook_token):
    body = {
        "alerts": [
            {
                "labels": {"alertname": "Lag", "job": "kafka_sink"},
                "summary": "lag",
                "severity": "critical",
                "dedup_key": "lag-1",
            }
        ]
    }
    response = post("/api/v1/integrations/webhook/", body, hook_token)
    assert response.status_code == 200 and response.json()["new"] == 1
    body["alerts"][0]["status"] = "resolved"
    assert post("/api/v1/integrations/webhook/", body, hook_token).json()["resolved"] == 1
    response = post("/api/v1/integrations/webhook/", {"alerts": []}, hook_token)
    assert response.status_code == 400


def test_intake_answers_only_post(am_token):
    assert Client().get("/api/v1/integrations/alertmanager/").status_code == 405
