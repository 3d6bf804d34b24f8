"""The API's areas in /api/schema/: one tag per operation, chosen by the start of its path.

drf-spectacular tags an operation with the first segment of its path after the common
prefix, which is "v1" for nearly all of ours. ``tag_by_area`` (the last postprocessing hook,
after the apps' own, which add the intake endpoints) replaces each operation's tags with the
area whose prefix is the longest one its path starts with, and lists the areas with their
descriptions for the docs page. A new operation under a known prefix is tagged with no change
here; one under no known prefix keeps drf-spectacular's tag and is reported as a warning, so
``manage.py spectacular --validate --fail-on-warn`` fails until its prefix is added below.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.drainage import warn

TAGS: list[dict[str, str]] = [
    {
        "name": "Now",
        "description": "What needs the person signed in now: incidents, shifts, late jobs.",
    },
    {
        "name": "Incidents",
        "description": "Incidents and what people do with them: acknowledge, escalate, "
        "reassign, snooze, resolve, reopen, notes, bulk actions, the incident hub.",
    },
    {"name": "Alerts", "description": "Alerts as received, each with its labels and incident."},
    {
        "name": "Silences & maintenance",
        "description": "Silences (and the preview of what one would match) and maintenance "
        "windows, which keep matching alerts from paging.",
    },
    {
        "name": "On-call",
        "description": "Rotations, their layers and overrides, shift swaps, who is on call and "
        "the schedule; escalation policies.",
    },
    {
        "name": "Teams & members",
        "description": "Teams, their members and roles, and each team's own alert routes.",
    },
    {
        "name": "Jobs & runs",
        "description": "The catalog of batch jobs, their runs and a run's trace.",
    },
    {"name": "SLOs", "description": "Service level objectives of jobs and their burn."},
    {
        "name": "Ingest",
        "description": "The telemetry intake (OTLP traces, logs and metrics over HTTP; "
        "OpenLineage events) and the ingest keys that senders authenticate with.",
    },
    {
        "name": "Integrations",
        "description": "Alert integrations (Alertmanager, generic webhook, PagerDuty Events v2) "
        "and the endpoints their senders post alerts to.",
    },
    {
        "name": "Tokens & audit",
        "description": "Personal API tokens and the audit log of what people did.",
    },
    {
        "name": "Me",
        "description": "Your own contact methods (verified by a code, tested by a test page) "
        "and notification rules: how you are paged, per urgency.",
    },
    {"name": "Demo", "description": "The demo's inbox of notifications (demo mode only)."},
]

# Path prefix -> tag; the longest matching prefix wins.
AREAS: dict[str, str] = {
    "/api/v1/now/": "Now",
    "/api/v1/incidents/": "Incidents",
    "/api/v1/alerts/": "Alerts",
    "/api/v1/silences/": "Silences & maintenance",
    "/api/v1/maintenance-windows/": "Silences & maintenance",
    "/api/v1/rotations/": "On-call",
    "/api/v1/rotation-layers/": "On-call",
    "/api/v1/rotation-overrides/": "On-call",
    "/api/v1/shift-swaps/": "On-call",
    "/api/v1/escalation-policies/": "On-call",
    "/api/v1/teams/": "Teams & members",
    "/api/v1/team-routes/": "Teams & members",
    "/api/v1/jobs/": "Jobs & runs",
    "/api/v1/runs/": "Jobs & runs",
    "/api/v1/traces/": "Jobs & runs",
    "/api/v1/slos/": "SLOs",
    "/v1/": "Ingest",
    "/api/v1/lineage": "Ingest",
    "/api/v1/ingest-keys/": "Ingest",
    "/api/v1/alert-integrations/": "Integrations",
    "/api/v1/integrations/": "Integrations",
    "/v2/enqueue": "Integrations",
    "/api/v1/tokens/": "Tokens & audit",
    "/api/v1/me/": "Me",
    "/api/v1/audit/": "Tokens & audit",
    "/api/v1/demo/": "Demo",
}

_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def area_of(path: str) -> str | None:
    """The tag of the area a path belongs to, or None when no prefix matches."""
    matches = [prefix for prefix in AREAS if path.startswith(prefix)]
    return AREAS[max(matches, key=len)] if matches else None


def tag_by_area(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook: each operation tagged with its area."""
    for path, operations in result.get("paths", {}).items():
        area = area_of(path)
        if area is None:
            warn(f"{path}: no API area for this path; add its prefix to core.openapi.AREAS")
            continue
        for method, operation in operations.items():
            if method in _METHODS:
                operation["tags"] = [area]
    result["tags"] = [dict(tag) for tag in TAGS]
    return result
