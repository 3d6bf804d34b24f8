"""Bounded fuzz of every alert intake endpoint: none answers a 500, and what is answered 2xx
is processed (queued intake: the drain takes it without an error or a quarantined alert).

Payloads start from what each sender really sends and have fields replaced by hostile
values (wrong types, huge numbers, NUL, lone surrogates, deep nesting, bad times), or are
hostile as a whole.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchwatch.alerts.models import AlertIntake, Integration
from batchwatch.alerts.services import intake_drain, integration_create
from batchwatch.core.models import QuarantinedItem

from .strategies import HOSTILE_TEXT, Deep, bad_scalars, bad_values, encode

EXAMPLES = 200

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

TIMES = st.sampled_from(
    [
        "2026-11-22T03:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:00:00-05:00",
        "2026-11-22T03:00:00+16:00",
        "2026-13-45T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "2026-11-22T03:00:00.123456789Z",
        "",
    ]
)
NAMES = st.one_of(st.sampled_from(HOSTILE_TEXT[:12]), st.sampled_from(["alertname", "job"]))
LABELS = st.one_of(
    st.dictionaries(NAMES, st.one_of(st.sampled_from(HOSTILE_TEXT), bad_scalars()), max_size=5),
    bad_values(),
)


def _field(good, bad=None):
    return st.one_of(good, bad if bad is not None else bad_values())


def _am_alert():
    return st.fixed_dictionaries(
        {"labels": _field(st.just({"alertname": "Fuzz", "job": "fz"}), LABELS)},
        optional={
            "status": _field(st.sampled_from(["firing", "resolved"])),
            "annotations": _field(st.just({"summary": "s"}), LABELS),
            "startsAt": _field(TIMES),
            "endsAt": _field(TIMES),
            "generatorURL": _field(st.just("http://prometheus/graph")),
            "fingerprint": bad_values(),
        },
    )


def _alertmanager():
    document = st.fixed_dictionaries(
        {"version": _field(st.just("4")), "alerts": _field(st.lists(_am_alert(), max_size=3))},
        optional={"status": bad_values(), "groupLabels": bad_values(), "receiver": bad_values()},
    )
    return st.one_of(document, document, document, bad_values())


def _pagerduty(routing_key: str):
    payload = st.fixed_dictionaries(
        {
            "summary": _field(st.just("ledger late")),
            "source": _field(st.just("airflow")),
            "severity": _field(st.sampled_from(["critical", "error", "warning", "info"])),
        },
        optional={
            "timestamp": _field(TIMES),
            "component": bad_values(),
            "group": bad_values(),
            "class": bad_values(),
            "custom_details": bad_values(),
        },
    )
    document = st.fixed_dictionaries(
        {
            "routing_key": _field(st.just(routing_key)),
            "event_action": _field(st.sampled_from(["trigger", "acknowledge", "resolve"])),
            "payload": _field(payload),
        },
        optional={
            "dedup_key": _field(st.sampled_from(["k1", "k2"])),
            "links": bad_values(),
            "images": bad_values(),
            "client": bad_values(),
            "client_url": bad_values(),
        },
    )
    return st.one_of(document, document, document, bad_values())


def _webhook():
    alert = st.fixed_dictionaries(
        {"labels": _field(st.just({"alertname": "Hook", "job": "hk"}), LABELS)},
        optional={
            "status": _field(st.sampled_from(["firing", "resolved"])),
            "dedup_key": _field(st.sampled_from(["d1", "d2"])),
            "summary": bad_values(),
            "severity": bad_values(),
            "annotations": _field(st.just({"summary": "s"}), LABELS),
            "starts_at": _field(TIMES),
            "ends_at": _field(TIMES),
            "url": bad_values(),
        },
    )
    return st.one_of(alert, st.fixed_dictionaries({"alerts": st.lists(alert, max_size=3)}))


@pytest.fixture
def tokens(db, team_a):
    return {
        kind: integration_create(name=kind, kind=kind, team=team_a)[1]
        for kind in (
            Integration.Kind.ALERTMANAGER,
            Integration.Kind.PAGERDUTY,
            Integration.Kind.WEBHOOK,
        )
    }


def _endpoints(tokens):
    am, pd, hook = (
        tokens[Integration.Kind.ALERTMANAGER],
        tokens[Integration.Kind.PAGERDUTY],
        tokens[Integration.Kind.WEBHOOK],
    )
    am_path, hook_path = "/api/v1/integrations/alertmanager/", "/api/v1/integrations/webhook/"
    return {
        "alertmanager": (am_path, am, _alertmanager()),
        "alertmanager-token-url": (f"{am_path}{am}/", None, _alertmanager()),
        "webhook": (hook_path, hook, _webhook()),
        "webhook-token-url": (f"{hook_path}{hook}/", None, _webhook()),
        "pagerduty": ("/v2/enqueue", None, _pagerduty(pd)),
    }


@pytest.mark.parametrize(
    "endpoint",
    ["alertmanager", "alertmanager-token-url", "webhook", "webhook-token-url", "pagerduty"],
)
def test_no_intake_endpoint_answers_500_and_2xx_means_processed(settings, tokens, endpoint):
    path, token, bodies = _endpoints(tokens)[endpoint]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    client = Client()
    sent = []

    @FUZZ
    @given(
        body=st.one_of(bodies, bodies, bodies, st.just(Deep(100_000))),
        raw=st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=100)),
        queued=st.booleans(),
    )
    def fuzz(body, raw, queued):
        settings.BATCHWATCH_ALERT_INTAKE = "queued" if queued else "inline"
        data = raw if raw is not None else encode(body)
        response = client.post(path, data=data, content_type="application/json", **headers)
        sent.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.content[:300])
        if queued and response.status_code < 300:
            intake_drain(now=datetime.now(UTC))
            assert AlertIntake.objects.filter(processed_at=None).count() == 0
            assert AlertIntake.objects.exclude(error="").count() == 0
        assert QuarantinedItem.objects.count() == 0

    fuzz()
    assert len(sent) >= EXAMPLES
    assert any(status < 300 for status in sent)  # some got through to processing
