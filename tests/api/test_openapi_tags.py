"""core/openapi.py: every operation of /api/schema/ under one area of the API, and the docs
page leading back to the app."""

from __future__ import annotations

import pytest
from django.test import Client

from batchwatch.core.openapi import AREAS, TAGS, area_of, tag_by_area
from tests.api.openapi import openapi

METHODS = {"get", "put", "post", "delete", "patch"}
KNOWN = {tag["name"] for tag in TAGS}


def _operations():
    for path, operations in openapi()["paths"].items():
        for method, operation in operations.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def test_every_operation_has_exactly_one_known_area():
    wrong = {
        name: operation.get("tags")
        for name, operation in _operations()
        if len(operation.get("tags", [])) != 1 or operation["tags"][0] not in KNOWN
    }
    assert not wrong, wrong
    assert all(operation["tags"] != ["v1"] for _, operation in _operations())


def test_the_areas_are_listed_with_descriptions_and_each_is_used():
    listed = openapi()["tags"]
    assert [tag["name"] for tag in listed] == [tag["name"] for tag in TAGS]
    assert all(tag["description"] for tag in listed)
    used = {operation["tags"][0] for _, operation in _operations()}
    assert used == KNOWN
    assert set(AREAS.values()) == KNOWN


@pytest.mark.parametrize(
    ("method", "path", "area"),
    [
        ("post", "/v1/traces", "Ingest"),
        ("post", "/v1/logs", "Ingest"),
        ("post", "/v1/metrics", "Ingest"),
        ("post", "/api/v1/lineage", "Ingest"),
        ("get", "/api/v1/ingest-keys/", "Ingest"),
        ("post", "/api/v1/integrations/alertmanager/", "Integrations"),
        ("post", "/api/v1/integrations/webhook/{token}/", "Integrations"),
        ("post", "/v2/enqueue", "Integrations"),
        ("get", "/api/v1/alert-integrations/", "Integrations"),
        ("post", "/api/v1/silences/preview/", "Silences & maintenance"),
        ("get", "/api/v1/maintenance-windows/", "Silences & maintenance"),
        ("get", "/api/v1/incidents/{id}/hub/", "Incidents"),
        ("get", "/api/v1/teams/{slug}/members/", "Teams & members"),
        ("get", "/api/v1/traces/{trace_id}/", "Jobs & runs"),
        ("get", "/api/v1/rotations/{id}/oncall/", "On-call"),
        ("get", "/api/v1/audit/", "Tokens & audit"),
    ],
)
def test_operations_are_tagged_with_their_area(method, path, area):
    assert openapi()["paths"][path][method]["tags"] == [area]


def test_the_longest_prefix_wins_and_an_unknown_path_has_no_area():
    assert area_of("/api/v1/integrations/webhook/") == "Integrations"
    assert area_of("/api/v1/alert-integrations/{id}/") == "Integrations"
    assert area_of("/api/v1/alerts/") == "Alerts"
    assert area_of("/api/v1/somewhere-new/") is None


def test_an_operation_of_no_known_area_is_a_warning_and_keeps_its_tag(monkeypatch):
    warnings: list[str] = []
    monkeypatch.setattr("batchwatch.core.openapi.warn", warnings.append)
    result = {"paths": {"/api/v1/somewhere-new/": {"get": {"tags": ["v1"]}}}}
    tagged = tag_by_area(result, None, None, True)
    assert tagged["paths"]["/api/v1/somewhere-new/"]["get"]["tags"] == ["v1"]
    assert len(warnings) == 1 and "core.openapi.AREAS" in warnings[0]


@pytest.mark.parametrize("persona", ["anonymous", "teammate", "admin"])
def test_the_docs_page_leads_back_to_the_app(persona, request, db):
    client = Client()
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b'href="/"' in page.content and b"Back to Batchwatch" in page.content
    assert b'href="/api/schema/"' in page.content
    assert b'id="swagger-ui"' in page.content


def test_the_app_navigation_links_to_the_api_docs(teammate):
    client = Client()
    client.force_login(teammate)
    page = client.get("/now/")
    assert page.status_code == 200
    assert b'href="/api/docs/"' in page.content
