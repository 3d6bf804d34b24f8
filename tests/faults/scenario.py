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


def escalation_to_webhook(hook_url: str, *, steps: int, wait: float, group_wait: float) -> None:
    """A team whose webhook channel each of ``steps`` escalation steps pages, ``wait`` seconds
    apart, behind a root route grouping by alertname and job."""
    from batchwatch.catalog.services import team_create
    from batchwatch.oncall.models import EscalationStep
    from batchwatch.oncall.services import policy_save

    team = team_create(slug="pagers", name="Pagers")
    Channel.objects.create(name="pager", kind=Channel.Kind.WEBHOOK, address=hook_url, team=team)
    step = {
        "target": EscalationStep.Target.TEAM_CHANNEL,
        "team": team,
        "wait": timedelta(seconds=wait),
    }
    policy = policy_save(slug="fast", name="Fast", team=team, steps=[step] * steps)
    Route.objects.create(
        name="root",
        group_by=["alertname", "job"],
        group_wait=timedelta(seconds=group_wait),
        group_interval=timedelta(minutes=5),
        escalation_policy=policy,
    )


def fire(count: int, *, alertname: str = "Down") -> None:
    """``count`` alerts of different jobs, received now: ``count`` incidents."""
    from batchwatch.alerts.services import alerts_receive
    from batchwatch.alerts.wire import TRIGGER, AlertEvent, label_fingerprint

    events = []
    for i in range(count):
        labels = {"alertname": alertname, "job": f"j{i:04d}", "severity": "critical"}
        fingerprint = label_fingerprint(labels)
        events.append(AlertEvent(action=TRIGGER, labels=labels, fingerprint=fingerprint))
    alerts_receive(events=events, source="faults", now=datetime.now(UTC))


def escalation_figures(hook, *, expected: int, wait: float, group_wait: float) -> dict:
    """Exact counts of the pages a Hook received.

    * ``delivered``: distinct notifications (Idempotency-Keys); ``lost``: expected ones that
      never arrived;
    * ``duplicated``: a page sent as two notifications (one incident's step and loop under
      two keys): a person paged twice, whatever the receiver does;
    * ``resent_same_key``: a notification delivered again with the same Idempotency-Key (one
      in flight when its worker died: it cannot be known sent), which a receiver honouring
      the key drops;
    * ``out_of_order``: a step that arrived after a later step of its incident;
    * ``worst_lateness_s``: step k of an incident is due group_wait + (k-1) x wait after the
      incident opened.
    """
    from collections import Counter

    from batchwatch.alerts.models import Incident

    counts = Counter(hook.keys)
    keys_per_page: dict = {}
    for key, body in zip(hook.keys, hook.bodies, strict=False):
        page = (body.get("incident"), body.get("step"), body.get("loop")) if "step" in body else key
        keys_per_page.setdefault(page, set()).add(key)
    opened = {pk: at.timestamp() for pk, at in Incident.objects.values_list("pk", "created_at")}
    worst, out_of_order, last_step = 0.0, 0, {}
    for at, body in sorted(zip(hook.times, hook.bodies, strict=False), key=lambda p: p[0]):
        incident, step = body.get("incident"), body.get("step")
        if incident not in opened or step is None:
            continue
        worst = max(worst, at - (opened[incident] + group_wait + (step - 1) * wait))
        if step < last_step.get(incident, 0):
            out_of_order += 1
        last_step[incident] = max(step, last_step.get(incident, 0))
    return {
        "expected": expected,
        "delivered": len(counts),
        "duplicated": sum(len(keys) - 1 for keys in keys_per_page.values()),
        "resent_same_key": sum(n - 1 for n in counts.values()),
        "lost": max(0, expected - len(counts)),
        "out_of_order": out_of_order,
        "worst_lateness_s": round(worst, 2),
    }
