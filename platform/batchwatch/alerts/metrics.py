"""Alerting's families of ``/metrics``: outbox depth, overdue timers (the auditor), open
incidents and the queued intake. Registered into slo's platform registry when this module is
imported (by the alerts app's ready()): alerts sits above slo in the layers, so slo, which
serves the exposition, does not import alerts."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db.models import Count, Min
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from batchwatch.alerts.models import AlertIntake
from batchwatch.alerts.selectors import open_incident_counts, overdue_timers
from batchwatch.notify.models import Notification
from batchwatch.slo.metrics import PLATFORM_REGISTRY, queue_gauges


class AlertingCollector(Collector):
    """Outbox depth, overdue timers (the auditor) and open incidents: live, from indexed counts."""

    def collect(self):
        now = datetime.now(UTC)
        depth = GaugeMetricFamily(
            "batchwatch_outbox_notifications",
            "Notifications in the outbox not delivered (yet), by state.",
            labels=["state"],
        )
        undelivered = dict(
            Notification.objects.filter(state__in=["pending", "sending", "failed"])
            .values("state")
            .annotate(n=Count("id"))
            .values_list("state", "n")
        )
        for state in ("pending", "sending", "failed"):
            depth.add_metric([state], undelivered.get(state, 0))
        yield depth
        oldest = Notification.objects.filter(state__in=["pending", "sending"]).aggregate(
            m=Min("created_at")
        )["m"]
        age = GaugeMetricFamily(
            "batchwatch_outbox_oldest_undelivered_seconds",
            "Age of the oldest notification not delivered yet (0 when none).",
        )
        age.add_metric([], (now - oldest).total_seconds() if oldest else 0)
        yield age
        yield from queue_gauges(
            AlertIntake,
            "batchwatch_alert_intake",
            "Alert intake batches accepted and not processed yet (queued intake).",
        )
        overdue = GaugeMetricFamily(
            "batchwatch_escalation_timers_overdue",
            "Pending escalation/flush timers later than BATCHWATCH_TIMER_OVERDUE_SECONDS.",
        )
        overdue.add_metric([], overdue_timers(now).count())
        yield overdue
        incidents = GaugeMetricFamily(
            "batchwatch_incidents_open",
            "Open incidents by team and state.",
            labels=["team", "state"],
        )
        for (team, state), count in sorted(open_incident_counts().items()):
            incidents.add_metric([team, state], count)
        yield incidents


PLATFORM_REGISTRY.register(AlertingCollector())
