"""The REST API's and the pages' edges: bad input is a 400 with a sentence, an unavailable
database a 503 with Retry-After; never a 500."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client

from batchwatch.catalog.models import Job, Team


@pytest.fixture
def api(api_as, admin):
    return api_as(admin)


# --- Pagination -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=18446744073709551616",
        "limit=9223372036854775808",
        "offset=18446744073709551616",
        "offset=-1",
        "limit=-5",
        "limit=1.5",
        "offset=abc",
        "limit=%D9%A1",  # an Arabic-Indic digit: int() reads it, no database should
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/incidents/", "/api/v1/jobs/", "/api/v1/alerts/"])
def test_a_limit_or_offset_out_of_range_is_a_400(api, ledger_job, path, query):
    response = api.get(f"{path}?{query}")
    assert response.status_code == 400, response.content
    name = query.partition("=")[0]
    assert response.json() == {name: [f"{name} must be a whole number from 0 to 2147483647."]}


def test_limits_in_range_still_page(api, ledger_job, team_b):
    response = api.get("/api/v1/teams/?limit=1&offset=1")
    assert response.status_code == 200
    assert response.json()["count"] == 2 and len(response.json()["results"]) == 1
    assert api.get("/api/v1/teams/?limit=0").status_code == 200  # DRF: the default page


# --- Times ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, problem",
    [
        ("2026-01-01T00:00:00%2B16:00", "Its UTC offset is beyond ±15:59."),
        ("2026-01-01T00:00:00-23:59", "Its UTC offset is beyond ±15:59."),
        ("9999-12-31T23:00:00-05:00", "Send a time within the years 1970 to 9999 in UTC."),
        ("0001-01-01T00:30:00%2B01:00", "Send a time within the years 1970 to 9999 in UTC."),
    ],
)
@pytest.mark.parametrize("name", ["started_after", "started_before"])
def test_run_time_filters_out_of_range_are_a_400(api, name, value, problem):
    response = api.get(f"/api/v1/runs/?{name}={value}")
    assert response.status_code == 400, response.content
    assert response.json() == {name: [problem]}


def test_run_time_filters_in_range_still_filter(api):
    response = api.get("/api/v1/runs/?started_after=2026-01-01T00:00:00%2B15:00")
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize(
    "query",
    ["at=9999-12-31T23:00:00-05:00", "at=2026-13-45T00:00:00Z", "at=2026-01-01T00:00:00+25:00"],
)
def test_rotation_instants_out_of_range_are_a_400(api, rotation, query):
    response = api.get(f"/api/v1/rotations/{rotation.pk}/oncall/?{query}")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["at"]


@pytest.mark.parametrize(
    "query", ["start=9999-12-30T00:00:00Z", "start=9999-12-30T00:00:00Z&end=9999-12-31T23:59:59Z"]
)
def test_a_schedule_near_year_9999_is_not_a_500(api, rotation, query):
    response = api.get(f"/api/v1/rotations/{rotation.pk}/schedule/?{query}")
    assert response.status_code in (200, 400), response.content


# --- Bodies and URLs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels",
    [b'{"domain": "a\\u0000b"}', b'{"a\\u0000": "b"}', b'{"domain": "\\ud800"}'],
    ids=["nul-value", "nul-key", "surrogate"],
)
def test_nul_or_a_lone_surrogate_in_a_body_is_a_400(api, team_a, labels):
    body = b'{"engine": "spark", "namespace": "p", "name": "t", "labels": ' + labels + b"}"
    response = api.post("/api/v1/jobs/", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["detail"].startswith("Text must ")
    assert Job.objects.count() == 0


def test_nul_in_a_patch_and_in_form_bodies_is_a_400(api, ledger_job):
    response = api.patch(f"/api/v1/jobs/{ledger_job.pk}/", {"labels": {"x": "\x00"}}, "json")
    assert response.status_code == 400
    response = api.post(
        "/api/v1/silences/",
        {"matchers": ["alertname=x\x00"], "comment": "c"},
        format="multipart",
    )
    assert response.status_code == 400
    response = api.post(
        "/api/v1/teams/",
        "slug=x&name=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    ledger_job.refresh_from_db()
    assert ledger_job.labels == {"domain": "ledger"}


def test_a_body_nested_too_deeply_is_a_400(api, team_a):
    body = b'{"labels":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = api.post("/api/v1/jobs/", body, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


@pytest.mark.parametrize("form", ["urlencoded", "multipart"])
def test_a_form_with_more_fields_than_django_takes_is_a_json_400(api, team_a, form):
    # (found by schemathesis: a bulk action's 1,500 ids as a form was Django's HTML 400)
    fields = {"slug": "x", "name": "x", "ids": [str(i) for i in range(1500)]}
    if form == "multipart":
        response = api.post("/api/v1/teams/", fields, format="multipart")
    else:
        body = "&".join(f"ids={i}" for i in fields["ids"]) + "&slug=x&name=x"
        response = api.post(
            "/api/v1/teams/", body, content_type="application/x-www-form-urlencoded"
        )
    assert response.status_code == 400
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/?team=a%00",
        "/api/v1/teams/%00/",
        "/api/v1/runs/?search=%00",
        "/jobs/?q=%00",
    ],
)
def test_nul_in_a_url_is_a_400(api, ledger_job, path):
    response = api.get(path)
    assert response.status_code == 400
    assert response.json() == {"detail": "The URL must not contain NUL characters (%00)."}


def test_a_team_is_created_with_its_thread_updates_setting(api):
    body = {"slug": "ops", "name": "Ops", "slack_thread_updates": "all"}
    response = api.post("/api/v1/teams/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["slack_thread_updates"] == "all"
    assert Team.objects.get(slug="ops").slack_thread_updates == "all"


# --- The database down ----------------------------------------------------------------------


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_the_api_answers_503_with_retry_after_when_the_database_is_down(api, admin, error):
    with mock.patch.object(connection, "ensure_connection", side_effect=error("refused")):
        response = api.get("/api/v1/jobs/")
        post = api.post("/api/v1/teams/", {"slug": "x", "name": "x"}, format="json")
    for answer in (response, post):
        assert answer.status_code == 503
        assert answer["Retry-After"] == "5"
        assert answer.json() == {"detail": "The database is unavailable; retry shortly."}
    assert api.get("/api/v1/jobs/").status_code == 200  # and back once it is


@pytest.mark.parametrize("path", ["/", "/teams/ledger/", "/incidents/"])
def test_pages_answer_503_with_retry_after_when_the_database_is_down(admin, team_a, path):
    client = Client()
    client.force_login(admin)
    assert client.get(path).status_code == 200
    with mock.patch.object(connection, "ensure_connection", side_effect=OperationalError("x")):
        response = client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"briefly unavailable" in response.content


@pytest.mark.parametrize("job", ["18446744073709551616", "9223372036854775808", "%C2%B2"])
def test_a_run_job_filter_beyond_any_id_finds_nothing(api, ledger_job, job):
    response = api.get(f"/api/v1/runs/?job={job}")
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


@pytest.mark.parametrize("value", ["999999999 00:00:00", "-999999999 00:00:00", "P99999999D"])
@pytest.mark.parametrize("field", ["max_age", "prediction_lead", "duration_threshold"])
def test_slo_durations_beyond_a_century_are_a_400(api, ledger_job, field, value):
    body = {
        "slug": "fresh",
        "name": "Fresh",
        "kind": "freshness",
        "job": ledger_job.key,
        "objective": 0.9,
        "window_unit": "runs",
        "window_size": 10,
        "max_age": "1 00:00:00",
        field: value,
    }
    response = api.post("/api/v1/slos/", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


def test_a_maintenance_window_beyond_a_century_is_a_400(api):
    body = {
        "name": "m",
        "matchers": ["team=ledger"],
        "starts_at": "2026-11-22T03:00:00Z",
        "duration": "999999999 00:00:00",
    }
    response = api.post("/api/v1/maintenance-windows/", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["duration"]


# --- URLs no API route takes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/jobs/0.5/", "/api/v1/incidents/-1e3/acknowledge/", "/api/v1/nothing/"]
)
def test_an_api_url_no_route_takes_is_a_json_404(api, path):
    # (found by schemathesis: an id like 0.5 missed the router and got the web app's HTML page)
    response = api.post(path) if path.endswith("acknowledge/") else api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("Not found")


def test_an_api_url_without_its_slash_is_still_redirected(api):
    assert api.get("/api/v1/jobs").status_code == 301


def test_an_unrouted_api_post_from_a_signed_in_browser_is_a_404_not_a_csrf_page(admin):
    # (found by schemathesis: with a session cookie, CSRF refused it first, in HTML)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    response = browser.post("/api/v1/incidents/0.5/acknowledge/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
