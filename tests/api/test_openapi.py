"""core/schema.py: the schema describes the refusals and the nulls the API answers."""

from __future__ import annotations

from tests.api.openapi import openapi, schema_property


def test_every_operation_documents_its_refusals():
    paths = openapi()["paths"]
    detail = paths["/api/v1/jobs/{id}/"]
    assert {"400", "401", "403", "404", "429", "503"} <= set(detail["get"]["responses"])
    assert {"409", "415"} <= set(detail["patch"]["responses"])
    assert "404" not in paths["/api/v1/jobs/"]["get"]["responses"]
    retry = paths["/api/v1/jobs/"]["get"]["responses"]["503"]
    assert "Retry-After" in retry["headers"]


def test_a_value_the_model_lets_be_null_is_nullable_in_answers():
    # (found by schemathesis: declared fields such as an audit event's actor, a run's parent
    # or an unowned job's team were null in answers and said never to be)
    assert schema_property("AuditEvent", "actor")["nullable"]
    assert schema_property("AuditEvent", "team")["nullable"]
    assert schema_property("Run", "team")["nullable"]
    assert schema_property("Job", "owner_team")["nullable"]
    # a request may still not send null where the model does not take it
    assert not schema_property("JobRequest", "name").get("nullable")
    assert not schema_property("Team", "slug").get("nullable")


def test_the_documented_request_examples_are_accepted(db, django_user_model):
    from rest_framework.test import APIClient

    from batchwatch.demo.loader import load_demo_catalog
    from tests.conftest import api_token_for

    load_demo_catalog()
    staff = APIClient()
    staff.credentials(
        HTTP_AUTHORIZATION=f"Token {api_token_for(django_user_model.objects.get(username='admin'))}"
    )
    tried = 0
    for path, item in openapi()["paths"].items():
        content = item.get("post", {}).get("requestBody", {}).get("content", {})
        for example in content.get("application/json", {}).get("examples", {}).values():
            if path.startswith("/api/v1/") and "{" not in path:
                response = staff.post(path, example["value"], format="json")
                # the success the schema documents: 201 for a creation, 200 for a read by POST
                # (a silence preview)
                documented = {int(code) for code in item["post"]["responses"] if code < "300"}
                assert response.status_code in documented, (path, response.content)
                tried += 1
    assert tried >= 2


def test_the_telemetry_intake_is_documented_and_its_examples_are_accepted(db, client):
    # (the settings outside production let the intake take exports without an ingest key)
    paths = openapi()["paths"]
    for path in ("/v1/traces", "/v1/logs", "/v1/metrics"):
        post = paths[path]["post"]
        assert {"200", "400", "401", "413", "415", "429", "503"} <= set(post["responses"])
        example = post["requestBody"]["content"]["application/json"]["example"]
        response = client.post(path, example, content_type="application/json")
        assert response.status_code == 200, (path, response.content)
    partial = openapi()["components"]["schemas"]["OtlpPartialSuccess"]["properties"]
    assert "rejectedDataPoints" in partial
