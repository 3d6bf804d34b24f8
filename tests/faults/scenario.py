"""What the fault tests share: an Alertmanager integration whose alerts page a webhook, and
the payloads an Alertmanager would post."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batchwatch.alerts.models import Route
from batchwatch.alerts.services import integration_create
from batchwatch.notify.models import Channel


def paging_webhook(hook_url: str, *, group_wait=timedelta(seconds=1)) -> str:
    """A root route grouping by alertname and job, notifying a webhook channel; returns the
    Alertmanager integration's token."""
    channel = Channel.objects.create(name="pager", kind=Channel.Kind.WEBHOOK, address=hook_url)
    route = Route.objects.create(
        name="root",
        group_by=["alertname", "job"],
        group_wait=group_wait,
        group_interval=timedelta(seconds=30),
        repeat_interval=timedelta(hours=4),
    )
    route.channels.add(channel)
    _, token = integration_create(name="alertmanager", kind="alertmanager")
    return token


def alertmanager_payload(jobs, *, status="firing", alertname="Down") -> dict:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "version": "4",
        "receiver": "batchwatch",
        "status": status,
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "groupLabels": {"alertname": alertname},
        "commonLabels": {"alertname": alertname},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": alertname, "job": job, "severity": "critical"},
                "annotations": {"summary": f"{job} is down"},
                "startsAt": now,
                "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": f"{abs(hash(job)) % 16**16:016x}",
            }
            for job in jobs
        ],
    }
