"""schemathesis against /api/schema/: every operation, with each kind of credential.

The schema is read from the app itself (WSGI, in process), so a new operation is tested
without a change here. Each operation gets ``EXAMPLES`` generated requests (valid and invalid
ones) on a database holding the demo catalog, an incident, a silence, a maintenance window
and a team route. Every answer must be a documented status, content type and body: no server
error, no schema violation. Each request is sent twice, with the credentials its operation takes:

- the REST API: a staff token and the token of a team member (bob, of ledger);
- the telemetry intake: an ingest key bound to ledger and one bound to no team;
- the alert intake: the integration's token, then an unknown one (in the header or the URL);
  PagerDuty's routing key (in the body) as generated, then the integration's.

Bounded for CI (.ci/run's SQLite leg; the PostgreSQL leg runs the same schema and code, so it
skips this): about two minutes on two cores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from django.db import connection, transaction
from hypothesis import HealthCheck, settings
from werkzeug.test import Client as WsgiClient

from batchwatch.alerts.models import Integration, MaintenanceWindow
from batchwatch.alerts.services import integration_create, silence_create, team_route_create
from batchwatch.catalog.models import Team
from batchwatch.demo.loader import load_demo_catalog
from batchwatch.ingest.services import ingest_key_create
from batchwatch.wsgi import application
from tests.alerts.conftest import firing, receive
from tests.conftest import api_token_for

EXAMPLES = 20

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# OTLP's protobuf bodies are opaque bytes to the schema: sent as they are generated.
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
INGEST = ("/v1/traces", "/v1/logs", "/api/v1/lineage")


@dataclass
class World:
    api_tokens: list[str]  # staff, member
    ingest_keys: list[str]  # bound to ledger, bound to no team
    integrations: dict[str, str]  # kind -> token
    _keys: dict[str, list] = field(default_factory=dict)

    def existing(self, collection: str, lookup: str) -> list:
        """The ids (or slugs) of a collection's objects, as the API lists them to staff."""
        if collection not in self._keys:
            response = WsgiClient(application).get(
                f"/api/v1/{collection}/?limit=1000",
                headers={"Authorization": f"Token {self.api_tokens[0]}"},
            )
            body = response.json if response.status_code == 200 else {}
            rows = body.get("results", body) if isinstance(body, dict) else body
            self._keys[collection] = [row[lookup] for row in rows if lookup in row]
        return self._keys[collection]


@pytest.fixture
def world(db, django_user_model) -> World:
    if connection.vendor != "sqlite":
        pytest.skip("runs in the SQLite leg of .ci/run (same schema and code)")
    load_demo_catalog()
    now = datetime.now(UTC)
    receive([firing({"alertname": "Late", "job": "ledger", "team": "ledger"})], now)
    admin = django_user_model.objects.get(username="admin")
    silence_create(
        matchers=["alertname=Late"], starts_at=now, ends_at=now + timedelta(hours=1),
        comment="schemathesis", created_by=admin, now=now,
    )  # fmt: skip
    MaintenanceWindow.objects.create(
        name="m", matchers=["team=ledger"], starts_at=now, duration=timedelta(hours=1)
    )
    member = django_user_model.objects.get(username="bob")
    ledger = Team.objects.get(slug="ledger")
    team_route_create(ledger, name="critical", matchers=["severity=critical"], actor=admin)
    return World(
        api_tokens=[api_token_for(admin), api_token_for(member)],
        ingest_keys=[
            ingest_key_create(name="ledger", team=ledger)[1],
            ingest_key_create(name="any")[1],
        ],
        integrations={
            kind: integration_create(name=kind, kind=kind)[1] for kind in Integration.Kind.values
        },
    )


def _sends(case, world: World):
    """Each way this case is sent: (headers, path token, routing key) overrides."""
    path = case.operation.path
    if path.startswith(INGEST):
        return [({"Authorization": f"Bearer {key}"}, None, None) for key in world.ingest_keys]
    if path == "/v2/enqueue":
        return [({}, None, None), ({}, None, world.integrations["pagerduty"])]
    if path.startswith("/api/v1/integrations/"):
        token = world.integrations[path.split("/")[4]]
        if "{token}" in path:
            return [({}, token, None), ({}, "unknown", None)]
        return [({"Authorization": f"Bearer {token}"}, None, None), ({}, None, None)]
    return [({"Authorization": f"Token {token}"}, None, None) for token in world.api_tokens]


def _aim_at_existing_objects(case, world: World) -> None:
    """A small generated id (or a slug-like one) is turned into one of an existing object, so
    that detail, update and delete operations mostly reach the object, not a 404. Other
    values (negative, huge, not a number) are sent as they are."""
    parts = case.operation.path.split("/")
    if parts[1:3] != ["api", "v1"] or not case.path_parameters:
        return
    for lookup, value in case.path_parameters.items():
        if lookup == "id" and isinstance(value, int) and 0 <= value < 10_000:
            pass
        elif lookup == "slug" and isinstance(value, str) and re.fullmatch("[a-z0-9-]+", value):
            value = len(value)
        else:
            continue
        if keys := world.existing(parts[3], lookup):
            case.path_parameters[lookup] = keys[value % len(keys)]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_schema(case, world):
    _aim_at_existing_objects(case, world)
    for headers, path_token, routing_key in _sends(case, world):
        if path_token is not None:
            case.path_parameters["token"] = path_token
        if routing_key is not None and isinstance(case.body, dict):
            case.body["routing_key"] = routing_key
        # Each send starts from the same data: what a DELETE removed is back for the next.
        with transaction.atomic():
            case.call_and_validate(headers=headers, checks=CHECKS)
            transaction.set_rollback(True)


def test_the_intake_endpoints_are_in_the_schema():
    paths = schema.raw_schema["paths"]
    for path in (*INGEST, "/v2/enqueue"):
        assert "requestBody" in paths[path]["post"], path
    for kind in ("alertmanager", "webhook"):
        assert {f"/api/v1/integrations/{kind}/", f"/api/v1/integrations/{kind}/{{token}}/"} <= set(
            paths
        )
    for path in ("/v1/traces", "/v1/logs"):
        content = paths[path]["post"]["requestBody"]["content"]
        assert content["application/x-protobuf"]["schema"] == {"type": "string", "format": "binary"}
        assert "application/json" in content
    assert paths["/v1/traces"]["post"]["security"] == [{"ingestKey": []}]
    assert paths["/api/v1/integrations/webhook/"]["post"]["security"] == [{"integrationToken": []}]
