"""Every kind of poison input of issue 16, sent to a running web process, then healthy spans
and a healthy alert that must be stored and page. Shared by ``tests/faults/test_poison.py``
and ``bench/faults.py``."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

from tests.processes import Hook, Web, wait_for

YEAR_10000 = "9999-12-31T23:00:00-05:00"  # year 10000 in UTC


def _attr(key, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def otlp_json(spans: list[dict], resource: dict | None = None) -> dict:
    """An OTLP/HTTP JSON request; each span a dict of name and attributes."""
    out = []
    for span in spans:
        now = time.time_ns()
        out.append(
            {
                "traceId": os.urandom(16).hex(),
                "spanId": os.urandom(8).hex(),
                "name": span.get("name", "step"),
                "kind": 1,
                "startTimeUnixNano": str(now - 5_000_000_000),
                "endTimeUnixNano": str(now),
                "attributes": [_attr(k, v) for k, v in span.get("attributes", {}).items()],
                "status": span.get("status", {}),
            }
        )
    attributes = [_attr(k, v) for k, v in (resource or {"service.name": "poison"}).items()]
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attributes},
                "scopeSpans": [{"scope": {"name": "t"}, "spans": out}],
            }
        ]
    }


def run_span(**extra) -> dict:
    attributes = {
        "batch.job.name": "poisoned_job",
        "batch.job.engine": "other",
        "batch.run.state": "failed",
        **extra,
    }
    return {"name": "run", "attributes": attributes}


def nested(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def poison_traces() -> list[bytes]:
    bodies = [
        otlp_json([run_span(**{"batchwatch.label.app/version": "1.2.3"})]),
        otlp_json([run_span(**{"batchwatch.label.has space": "x"})]),
        otlp_json([run_span(**{"batchwatch.label.__reserved": "x"})]),
        otlp_json([run_span(**{"batchwatch.label." + "k" * 64: "x"})]),
        otlp_json([run_span(**{"batchwatch.label.clé": "x"})]),
        otlp_json([run_span(**{"batch.job.namespace": "has space"})]),
        otlp_json([run_span(**{"batch.job.namespace": "n" * 201})]),
        otlp_json([run_span(**{"batch.job.namespace": 42})]),
        otlp_json([run_span(**{"batch.job.name": "   "})]),
        otlp_json([run_span(**{"batch.job.name": "nul\x00job"})]),
        otlp_json([run_span(**{"batch.run.scheduled_time": YEAR_10000})]),
        otlp_json([{"name": "nul\x00span", "attributes": {"a": "b\x00c"}}]),
        otlp_json([{"name": "nan", "attributes": {"ratio": float("nan")}}]),
        otlp_json([{"name": "inf", "attributes": {"ratio": float("inf")}}]),
        otlp_json([{"name": "status", "status": {"code": 2, "message": "bad\x00"}}]),
        otlp_json([{"name": "svc"}], resource={"service.name": "svc\x00"}),
    ]
    encoded = [json.dumps(b).encode() for b in bodies]
    # NaN and Infinity as JSON numbers (what Python's json writes) and a lone surrogate.
    encoded.append(b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "\\ud800"}]}]}]}')
    encoded.append(nested().encode())
    return encoded


def poison_lineage() -> list[bytes]:
    def event(**overrides) -> dict:
        base = {
            "eventType": "COMPLETE",
            "eventTime": "2026-11-24T03:00:00Z",
            "producer": "https://example.com/poison",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": "0190c0de-0000-7000-8000-000000000001", "facets": {}},
            "job": {"namespace": "poison", "name": "job", "facets": {}},
            "inputs": [],
            "outputs": [],
        }
        for key, value in overrides.items():
            section, _, field = key.partition("__")
            if field:
                base[section][field] = value
            else:
                base[section] = value
        return base

    bodies = [
        event(run__facets={"nominalTime": {"nominalStartTime": YEAR_10000}}),
        event(run__facets={"nominalTime": 5}),
        event(run__facets="not an object"),
        event(job__name="tab\there"),
        event(job__name="new\nline"),
        event(eventTime="2026-11-24T03:00:00+16:00"),
        event(
            run__facets={
                "parent": {
                    "job": {"namespace": "p", "name": "p" * 601},
                    "run": {"runId": "0190c0de-0000-7000-8000-000000000002"},
                }
            }
        ),
        event(job__name="nul\x00"),
    ]
    encoded = [json.dumps(b).encode() for b in bodies]
    encoded.append(nested().encode())
    return encoded


def poison_alertmanager() -> list[bytes]:
    def payload(**alert) -> dict:
        base = {
            "status": "firing",
            "labels": {"alertname": "Poison", "job": "p"},
            "annotations": {},
            "startsAt": "2026-11-24T03:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
        }
        base.update(alert)
        return {
            "version": "4",
            "status": "firing",
            "receiver": "b",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "",
            "groupKey": "{}",
            "truncatedAlerts": 0,
            "alerts": [base],
        }

    bodies = [
        payload(startsAt=YEAR_10000),
        payload(labels={"alertname": "Poison\x00", "job": "p"}),
        payload(annotations={"summary": "nul\x00"}),
        payload(labels={"alertname": "Poison", "bad key": "x"}),
    ]
    encoded = [json.dumps(b).encode() for b in bodies]
    encoded.append(
        b'{"version": "4", "status": "firing", "alerts": [{"status": "firing", '
        b'"labels": {"alertname": "\\udc00"}, "startsAt": "2026-11-24T03:00:00Z"}]}'
    )
    encoded.append(nested().encode())
    return encoded


def poison_pagerduty(routing_key: str) -> list[bytes]:
    base = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": "poison", "source": "s", "severity": "critical"},
    }
    return [
        json.dumps({**base, "links": 5}).encode(),
        json.dumps({**base, "payload": {**base["payload"], "summary": "nul\x00"}}).encode(),
        nested().encode(),
    ]


def _post(web: Web, path: str, body: bytes, headers: dict) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        web.base + path,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def integrations() -> tuple[str, str]:
    from batchwatch.alerts.services import integration_create

    _, am = integration_create(name="am", kind="alertmanager")
    _, pd = integration_create(name="pd", kind="pagerduty")
    return am, pd


def send_poison(web: Web, hook: Hook) -> Counter:
    """Post every poison input; returns how many were answered with each status."""
    from tests.faults.scenario import paging_webhook

    paging_webhook(hook.url)
    am, pd = integrations()
    answers: Counter = Counter()
    for body in poison_traces():
        answers[_post(web, "/v1/traces", body, {})] += 1
    for body in poison_lineage():
        answers[_post(web, "/api/v1/lineage", body, {})] += 1
    for body in poison_alertmanager():
        answers[
            _post(
                web, "/api/v1/integrations/alertmanager/", body, {"Authorization": f"Bearer {am}"}
            )
        ] += 1
    for body in poison_pagerduty(pd):
        answers[_post(web, "/v2/enqueue", body, {})] += 1
    return answers


def healthy_checks(web: Web, hook: Hook, *, timeout: float = 60) -> dict:
    """After the poison: healthy spans are stored and make their run, a healthy alert pages,
    and the pages that read runs answer."""
    from batchwatch.alerts.services import integration_create
    from batchwatch.runs.models import Run, Span
    from tests.faults.scenario import alertmanager_payload

    _, am = integration_create(name="am-healthy", kind="alertmanager")
    spans_before = Span.objects.count()
    healthy = otlp_json(
        [
            {
                "name": "ok",
                "attributes": {
                    "batch.job.name": "healthy_job",
                    "batch.run.id": "r1",
                    "batch.run.state": "succeeded",
                },
            }
        ]
        + [{"name": f"step-{i}"} for i in range(9)]
    )
    traces_status = _post(web, "/v1/traces", json.dumps(healthy).encode(), {})
    alert_status = _post(
        web,
        "/api/v1/integrations/alertmanager/",
        json.dumps(alertmanager_payload(["healthy"])).encode(),
        {"Authorization": f"Bearer {am}"},
    )
    stored_run = paged = True
    try:
        wait_for(
            lambda: Run.objects.filter(job__name="healthy_job").exists(),
            timeout=timeout,
            what="the healthy run",
        )
    except AssertionError:
        stored_run = False
    try:
        wait_for(
            lambda: any("healthy" in json.dumps(b) for b in hook.bodies),
            timeout=timeout,
            what="the healthy page",
        )
    except AssertionError:
        paged = False
    return {
        "healthy_traces_status": traces_status,
        "healthy_alert_status": alert_status,
        "healthy_spans_sent": 10,
        "healthy_spans_stored": Span.objects.count() - spans_before,
        "healthy_run_stored": stored_run,
        "healthy_alert_paged": paged,
    }
