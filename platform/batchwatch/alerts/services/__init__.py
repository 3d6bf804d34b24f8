"""Writes of alerting: intake, grouping into incidents, suppression, the incident lifecycle,
escalation and the durable timers that drive it.

Every function takes ``now`` (timezone-aware UTC): the same code runs live, in tests at fixed
instants, and in ``alerts simulate``. Side effects are outbox rows written in the caller's
transaction (``notify.services.notification_enqueue``), delivered after commit.

One module per step an alert goes through (``receive`` → ``suppression`` → ``grouping`` →
``timers``/``flushes`` → ``escalation``) and per thing people act on (``incidents``,
``silences``, ``maintenance``, ``integrations``, ``team_routes``, and from outside the pages:
``action_links``, ``action_link_use``, ``channel_actions``); the names below are the public ones.
"""

from batchwatch.alerts.services.action_link_use import action_link_use
from batchwatch.alerts.services.action_links import action_links_create, action_links_prune
from batchwatch.alerts.services.channel_actions import incident_act_from_channel
from batchwatch.alerts.services.escalation import step_recipients
from batchwatch.alerts.services.grouping import HIGH_SEVERITIES, RouteOutcome
from batchwatch.alerts.services.incidents import (
    FiringAlertsError,
    incident_acknowledge,
    incident_escalate,
    incident_reassign,
    incident_reopen,
    incident_resolve,
    incident_snooze,
)
from batchwatch.alerts.services.intake_queue import (
    INTAKE_CHUNK,
    INTAKE_DRAIN_LOCK,
    INTAKE_MAX_DEFER,
    INTAKE_MERGE_WINDOW,
    INTAKE_QUIET,
    alerts_accept,
    intake_drain,
    intake_drain_due,
    intake_prune,
)
from batchwatch.alerts.services.integrations import (
    TOKEN_CACHE_SECONDS,
    integration_create,
    integration_for_token,
    integration_tokens_forget,
    integrations_revoke,
)
from batchwatch.alerts.services.maintenance import (
    MAINTENANCE_FIELDS,
    maintenance_window_create,
    maintenance_window_delete,
    maintenance_window_update,
)
from batchwatch.alerts.services.notes import NOTE_MAX_LENGTH, NOTE_SOURCES, incident_note_add
from batchwatch.alerts.services.receive import SIGNALS_SOURCE, ReceiveResult, alerts_receive
from batchwatch.alerts.services.reconsider import alerts_reconsider
from batchwatch.alerts.services.run_timers import WORKER, timers_run_due
from batchwatch.alerts.services.semantics import incident_title, incidents_refresh, urgency_for
from batchwatch.alerts.services.silences import (
    silence_create,
    silence_expire,
    silence_record_event,
)
from batchwatch.alerts.services.suppression import Inhibitor, SuppressionKind, SuppressionReason
from batchwatch.alerts.services.team_routes import (
    team_route_create,
    team_route_delete,
    team_route_matchers,
    team_route_update,
)
from batchwatch.alerts.services.timers import OPEN_STATES

__all__ = [
    "HIGH_SEVERITIES",
    "INTAKE_CHUNK",
    "INTAKE_DRAIN_LOCK",
    "INTAKE_MAX_DEFER",
    "INTAKE_MERGE_WINDOW",
    "INTAKE_QUIET",
    "MAINTENANCE_FIELDS",
    "NOTE_MAX_LENGTH",
    "NOTE_SOURCES",
    "OPEN_STATES",
    "SIGNALS_SOURCE",
    "TOKEN_CACHE_SECONDS",
    "WORKER",
    "FiringAlertsError",
    "Inhibitor",
    "ReceiveResult",
    "RouteOutcome",
    "SuppressionKind",
    "SuppressionReason",
    "action_link_use",
    "action_links_create",
    "action_links_prune",
    "alerts_accept",
    "alerts_receive",
    "alerts_reconsider",
    "incident_acknowledge",
    "incident_act_from_channel",
    "incident_escalate",
    "incident_note_add",
    "incident_reassign",
    "incident_reopen",
    "incident_resolve",
    "incident_snooze",
    "incident_title",
    "incidents_refresh",
    "intake_drain",
    "intake_drain_due",
    "intake_prune",
    "integration_create",
    "integration_for_token",
    "integration_tokens_forget",
    "integrations_revoke",
    "maintenance_window_create",
    "maintenance_window_delete",
    "maintenance_window_update",
    "silence_create",
    "silence_expire",
    "silence_record_event",
    "step_recipients",
    "team_route_create",
    "team_route_delete",
    "team_route_matchers",
    "team_route_update",
    "timers_run_due",
    "urgency_for",
]
