"""An OTLP exporter given the base URL instead of the full one posts to ``/`` (or to a prefix
such as ``/otlp/v1/traces``): it gets an OTLP ``Status`` naming the endpoints, 404, not the web
app's CSRF 403 or HTML 404; a browser's ``GET /`` is still the web app."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.test import Client
from google.rpc import status_pb2

from tests.ingest.helpers import PROTOBUF

MIDDLEWARE = "batchwatch.ingest.middleware.OtlpMisdirectedMiddleware"


def test_the_middleware_runs_before_the_csrf_check():
    # (CsrfViewMiddleware would answer an exporter's POST / with a 403 page first)
    order = django_settings.MIDDLEWARE
    assert order.index(MIDDLEWARE) < order.index("django.middleware.csrf.CsrfViewMiddleware")


@pytest.fixture
def exporter() -> Client:
    """A client that, like an exporter, sends no CSRF token (checked, as in production)."""
    return Client(enforce_csrf_checks=True)


def assert_names_the_endpoints(message: str, path: str) -> None:
    assert message.startswith(f"{path} is not an OTLP endpoint of Batchwatch")
    for endpoint in ("/v1/traces", "/v1/logs", "/v1/metrics"):
        assert endpoint in message


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/otlp/v1/traces", "/ingest/v1/metrics/"])
def test_a_json_export_to_a_wrong_path_gets_a_status(exporter, path):
    response = exporter.post(path, b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == 5  # NOT_FOUND
    assert_names_the_endpoints(response.json()["message"], path)


@pytest.mark.django_db
def test_a_protobuf_export_to_the_root_gets_a_status_in_json(exporter):
    # (the Status is JSON whatever was sent: the exporter logs it as text either way)
    response = exporter.post("/", b"\x0a\x00", content_type=PROTOBUF)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    status = status_pb2.Status(**response.json())
    assert status.code == 5
    assert_names_the_endpoints(status.message, "/")


@pytest.mark.django_db
def test_the_web_app_still_answers_get_and_other_posts(exporter, django_user_model):
    assert exporter.get("/").status_code == 302  # (to sign in)
    user = django_user_model.objects.create_user("ada", password="pw")
    exporter.force_login(user)
    page = exporter.get("/")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    # A form post to the root is not an export: the web app's own answer (CSRF).
    assert exporter.post("/", {"a": "b"}).status_code == 403
    # A real endpoint answers for itself, and so do other unknown paths.
    assert exporter.post("/v1/metrics", b"{}", content_type="application/json").status_code == 200
    assert exporter.get("/no-such-page/").status_code == 404
