"""The alert intake in /api/schema/: Alertmanager's webhook, PagerDuty Events v2, our
generic webhook.

These are plain Django views that speak their senders' formats, so drf-spectacular does not
see them; ``document`` (a POSTPROCESSING_HOOKS entry) adds them by hand. Keep it in step with
``views.py`` and ``wire.py``: each status here is one the view answers.
"""

from __future__ import annotations

from copy import deepcopy

SECURITY_SCHEME = {
    "integrationToken": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "An integration's token (admin → Integrations), sent as `Authorization: Bearer "
            "<token>` or in the URL (`.../<token>/`), for senders that cannot set headers."
        ),
    }
}

_LABELS = {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1024}}
_TIME = {"type": "string", "format": "date-time"}

COMPONENTS = {
    "AlertmanagerAlert": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["firing", "resolved"]},
            "labels": {**_LABELS, "minProperties": 1, "description": "The alert's identity."},
            "annotations": _LABELS,
            "startsAt": _TIME,
            "endsAt": _TIME,
            "generatorURL": {"type": "string", "maxLength": 2000},
            "fingerprint": {"type": "string"},
        },
        "required": ["status", "labels"],
    },
    "AlertmanagerWebhook": {
        "type": "object",
        "description": "Alertmanager's webhook_config payload, version 4.",
        "properties": {
            "version": {"type": "string", "enum": ["4"]},
            "groupKey": {"type": "string"},
            "truncatedAlerts": {"type": "integer"},
            "status": {"type": "string", "enum": ["firing", "resolved"]},
            "receiver": {"type": "string"},
            "groupLabels": _LABELS,
            "commonLabels": _LABELS,
            "commonAnnotations": _LABELS,
            "externalURL": {"type": "string"},
            "alerts": {
                "type": "array",
                "maxItems": 10_000,
                "items": {"$ref": "#/components/schemas/AlertmanagerAlert"},
            },
        },
        "required": ["version", "alerts"],
    },
    "WebhookAlert": {
        "type": "object",
        "properties": {
            "labels": {**_LABELS, "minProperties": 1, "description": "The alert's identity."},
            "status": {"type": "string", "enum": ["firing", "resolved"], "default": "firing"},
            "dedup_key": {"type": "string", "minLength": 1, "description": "Default: labels."},
            "summary": {"type": "string", "maxLength": 500},
            "severity": {"type": "string", "maxLength": 20},
            "annotations": _LABELS,
            "starts_at": _TIME,
            "ends_at": {
                **_TIME,
                "description": "A firing alert not refreshed by then resolves.",
            },
            "url": {"type": "string", "maxLength": 2000},
        },
        "required": ["labels"],
    },
    "WebhookPayload": {
        "description": 'One alert, or `{"alerts": [...]}`.',
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "alerts": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 10_000,
                        "items": {"$ref": "#/components/schemas/WebhookAlert"},
                    }
                },
                "required": ["alerts"],
            },
            {"$ref": "#/components/schemas/WebhookAlert"},
        ],
    },
    "IntakeResult": {
        "type": "object",
        "description": (
            "What was done with the alerts; with queued intake only `received` and `queued` "
            "(the intake drain routes them shortly)."
        ),
        "properties": {
            "status": {"type": "string", "enum": ["success"]},
            "received": {"type": "integer"},
            "new": {"type": "integer"},
            "resolved": {"type": "integer"},
            "suppressed": {"type": "integer"},
            "incidents_opened": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "Ids of the incidents these alerts opened.",
            },
            "queued": {"type": "boolean"},
        },
        "required": ["status", "received"],
    },
    "IntakeError": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["error"]},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["status", "message"],
    },
    "PagerDutyEvent": {
        "type": "object",
        "description": "PagerDuty Events API v2; routing_key is the integration's token.",
        "properties": {
            "routing_key": {"type": "string", "minLength": 1},
            "event_action": {"type": "string", "enum": ["trigger", "acknowledge", "resolve"]},
            "dedup_key": {"type": "string", "maxLength": 255},
            "payload": {
                "type": "object",
                "description": "Required to trigger.",
                "properties": {
                    "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                    "source": {"type": "string", "minLength": 1},
                    "severity": {
                        "type": "string",
                        "enum": ["critical", "error", "warning", "info"],
                    },
                    "timestamp": _TIME,
                    "component": {"type": "string"},
                    "group": {"type": "string"},
                    "class": {"type": "string"},
                    "custom_details": {},
                },
                "required": ["summary", "source", "severity"],
            },
            "links": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"href": {"type": "string"}, "text": {"type": "string"}},
                },
            },
            "images": {"type": "array", "items": {"type": "object"}},
            "client": {"type": "string"},
            "client_url": {"type": "string"},
        },
        "required": ["routing_key", "event_action"],
    },
    "PagerDutyAccepted": {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["success"]},
            "message": {"type": "string"},
            "dedup_key": {"type": "string"},
        },
        "required": ["status", "dedup_key"],
    },
    "PagerDutyRefusal": {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "message": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["status", "message"],
    },
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before sending again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


# What a sender sends, for readers of the schema (and schemathesis' first case of each).
_LATE = {"alertname": "LedgerCloseLate", "team": "ledger", "severity": "critical"}
EXAMPLES = {
    "AlertmanagerWebhook": {
        "version": "4",
        "status": "firing",
        "receiver": "batchwatch",
        "groupKey": '{}:{alertname="LedgerCloseLate"}',
        "alerts": [
            {
                "status": "firing",
                "labels": _LATE,
                "annotations": {"summary": "The ledger close has not started"},
                "startsAt": "2026-11-22T07:15:00Z",
                "generatorURL": "https://prometheus.example.com/graph",
            }
        ],
    },
    "WebhookPayload": {
        "alerts": [{"labels": _LATE, "summary": "The ledger close has not started"}]
    },
    "PagerDutyEvent": {
        "routing_key": "<the integration's token>",
        "event_action": "trigger",
        "payload": {
            "summary": "The ledger close has not started",
            "source": "scheduler",
            "severity": "critical",
            "custom_details": {"team": "ledger"},
        },
    },
}


def _json(schema: str) -> dict[str, object]:
    content: dict[str, object] = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
    if schema in EXAMPLES:
        content["example"] = EXAMPLES[schema]
    return {"application/json": content}


def _error(text: str, schema: str = "IntakeError", retry: bool = False) -> dict[str, object]:
    response: dict[str, object] = {"description": text, "content": _json(schema)}
    if retry:
        response["headers"] = _RETRY_AFTER
    return response


def _intake(kind: str, summary: str, body: str, *, token_in_path: bool) -> dict:
    operation = {
        "operationId": f"intake_{kind}{'_token_url' if token_in_path else ''}",
        "summary": summary + (" (token in the URL)" if token_in_path else ""),
        "tags": ["alert intake"],
        "security": [] if token_in_path else [{"integrationToken": []}],
        "requestBody": {"required": True, "content": _json(body)},
        "responses": {
            "200": {"description": "Received.", "content": _json("IntakeResult")},
            "400": _error("Not a payload Batchwatch can take; `errors` lists every problem."),
            "401": _error("No integration token of this kind, or an unknown or revoked one."),
            "413": _error("The body is over the size limit."),
            "415": _error("Content-Encoding not supported."),
            "429": _error("Too many wrong tokens from this address.", retry=True),
            "503": _error("The database is unavailable; retry shortly.", retry=True),
        },
    }
    if token_in_path:
        operation["parameters"] = [
            {
                "name": "token",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
                "description": "The integration's token.",
            }
        ]
    return {"post": operation}


def _pagerduty() -> dict:
    return {
        "post": {
            "operationId": "intake_pagerduty",
            "summary": "PagerDuty Events API v2 (answers as PagerDuty does)",
            "tags": ["alert intake"],
            "security": [],  # the integration's token is the body's routing_key
            "requestBody": {"required": True, "content": _json("PagerDutyEvent")},
            "responses": {
                "202": {"description": "Accepted.", "content": _json("PagerDutyAccepted")},
                "400": _error("Invalid event, or an unknown routing key.", "PagerDutyRefusal"),
                "413": _error("The body is over the size limit.", "PagerDutyRefusal"),
                "415": _error("Content-Encoding not supported.", "PagerDutyRefusal"),
                "429": _error("Too many wrong routing keys.", "PagerDutyRefusal", retry=True),
                "503": _error("Retry shortly.", "PagerDutyRefusal", retry=True),
            },
        }
    }


PATHS = {
    "/api/v1/integrations/alertmanager/": _intake(
        "alertmanager", "Alertmanager webhook", "AlertmanagerWebhook", token_in_path=False
    ),
    "/api/v1/integrations/alertmanager/{token}/": _intake(
        "alertmanager", "Alertmanager webhook", "AlertmanagerWebhook", token_in_path=True
    ),
    "/api/v1/integrations/webhook/": _intake(
        "webhook", "Generic JSON webhook", "WebhookPayload", token_in_path=False
    ),
    "/api/v1/integrations/webhook/{token}/": _intake(
        "webhook", "Generic JSON webhook", "WebhookPayload", token_in_path=True
    ),
    "/v2/enqueue": _pagerduty(),
}


def document(result, generator, request, public):
    """drf-spectacular postprocessing hook: the alert intake's paths and schemas."""
    result["paths"].update(deepcopy(PATHS))
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(deepcopy(COMPONENTS))
    components.setdefault("securitySchemes", {}).update(deepcopy(SECURITY_SCHEME))
    return result
