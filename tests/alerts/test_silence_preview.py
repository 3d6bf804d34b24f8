"""The silence preview: what it shows is what the silence holds; POST /api/v1/silences/preview/
with each persona."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.alerts import services
from batchwatch.alerts.matchers import parse_matcher
from batchwatch.alerts.models import Alert, Incident, Silence
from batchwatch.alerts.permissions import confine_matchers
from batchwatch.alerts.selectors_silences import (
    alert_silence_matchers,
    incident_silence_matchers,
    job_silence_matchers,
    matcher_text,
    silence_preview,
)
from batchwatch.alerts.services.suppression import SuppressionKind, SuppressionReason
from tests.alerts.conftest import firing, receive

URL = "/api/v1/silences/preview/"
CLOSE = "airflow:prod/close"
LABELS = [
    {"alertname": "CloseFailed", "job": CLOSE, "team": "ledger", "severity": "critical"},
    {"alertname": "CloseLate", "job": CLOSE, "team": "ledger", "severity": "warning"},
    {"alertname": "PostFailed", "job": "airflow:prod/post", "team": "ledger", "severity": "info"},
    {"alertname": "VarFailed", "job": "spark:risk/var", "team": "risk", "severity": "critical"},
    {"alertname": "Orphan", "job": "x", "severity": ""},  # no team label at all
]


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def firing_alerts(route_tree):
    receive([firing(labels) for labels in LABELS], _now(), source="first")
    return list(Alert.objects.order_by("pk"))


# --- preview == effect -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "matchers",
    [
        [f'job="{CLOSE}"'],
        ['severity="critical"'],
        ['severity=~"crit.*|warning"', 'team="ledger"'],
        ['alertname!="CloseLate"', 'job=~"airflow:.*"'],
        ['severity!~"critical"', 'alertname=~".+"'],
        ['team=""', 'alertname="Orphan"'],  # a missing label equals the empty string
        ['job="nothing-matches-this"'],
    ],
)
def test_the_preview_is_what_the_silence_holds(firing_alerts, matchers):
    """Preview on alerts firing now; then the silence, and the same label sets arriving from
    another source: exactly the twins of the previewed alerts are held by it."""
    now = _now()
    preview = silence_preview(matchers, sample_size=100)
    previewed = {frozenset(a.labels.items()) for a in preview.alerts}
    assert preview.alert_count == len(previewed)
    silence = services.silence_create(
        matchers=matchers,
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        comment="preview check",
        now=now,
    )
    receive([firing(labels) for labels in LABELS], now, source="second")
    held = set()
    for alert in Alert.objects.filter(source="second"):
        reason = SuppressionReason.parse(alert.suppressed_reason)
        if reason and reason.kind == SuppressionKind.SILENCE:
            assert reason.detail.startswith(f"{silence.pk} ")
            held.add(frozenset(alert.labels.items()))
    assert held == previewed


def test_a_members_preview_is_what_her_confined_silence_holds(firing_alerts, teammate):
    matchers = confine_matchers(teammate, ['severity="critical"'])
    preview = silence_preview(matchers, sample_size=100)
    assert preview.matchers == ['severity="critical"', 'team="ledger"']
    assert [a.labels["alertname"] for a in preview.alerts] == ["CloseFailed"]


def test_the_preview_counts_the_open_incidents_holding_the_alerts(firing_alerts):
    preview = silence_preview([f'job="{CLOSE}"'])
    assert (preview.alert_count, preview.incident_count) == (2, 2)
    assert all(i.all_alerts_match for i in preview.incidents)
    # A resolved incident is not counted; resolved alerts are not matched.
    Incident.objects.filter(title__contains="CloseLate").update(state=Incident.State.RESOLVED)
    Alert.objects.filter(labels__alertname="CloseLate").update(status=Alert.Status.RESOLVED)
    preview = silence_preview([f'job="{CLOSE}"'])
    assert (preview.alert_count, preview.incident_count) == (1, 1)


def test_the_preview_reads_in_a_fixed_number_of_queries(
    firing_alerts, django_assert_max_num_queries
):
    receive(
        [firing({"alertname": f"Storm{n}", "job": CLOSE, "team": "ledger"}) for n in range(30)],
        _now(),
    )
    with django_assert_max_num_queries(3):
        preview = silence_preview([f'job="{CLOSE}"'])
    assert preview.alert_count == 32 and len(preview.alerts) == 5


def test_incidents_of_other_teams_are_counted_not_named(firing_alerts, team_a):
    # The risk alert's incident belongs to ledger (as lineage attaches across teams).
    Incident.objects.filter(title__contains="VarFailed").update(team=team_a)
    preview = silence_preview(['team="risk"', 'alertname=~".+"'], visible_team_ids=set())
    assert (preview.alert_count, preview.incident_count) == (1, 1)
    assert preview.incidents == []


def test_labels_named_like_lookups_stay_labels(route_tree):
    receive([firing({"alertname": "A", "contains": "x", "a__b": "y"})], _now())
    assert silence_preview(['contains="x"']).alert_count == 1
    assert silence_preview(['a__b="y"']).alert_count == 1
    assert silence_preview(['contains="other"']).alert_count == 0


# --- "Silence this" matchers ------------------------------------------------------------------


def test_silence_this_matchers_select_what_they_are_on(firing_alerts):
    alert = Alert.objects.get(labels__alertname="CloseFailed")
    incident = Incident.objects.get(title__contains="CloseFailed")
    assert silence_preview(alert_silence_matchers(alert), sample_size=100).alert_count == 1
    assert incident_silence_matchers(incident) == ['alertname="CloseFailed"', f'job="{CLOSE}"']
    assert job_silence_matchers(CLOSE) == [f'job="{CLOSE}"']
    # Grouped on nothing: the labels its alerts share.
    Incident.objects.filter(pk=incident.pk).update(group_labels={})
    incident.refresh_from_db()
    assert incident_silence_matchers(incident) == alert_silence_matchers(alert)


@pytest.mark.parametrize("value", ["plain", 'a"quote', "back\\slash", "trailing\\", '\\"', ""])
def test_matcher_text_reads_back_as_written(value):
    matcher = parse_matcher(matcher_text("job", "=", value))
    assert (matcher.name, matcher.op, matcher.value) == ("job", "=", value)


# --- the API, persona by persona ------------------------------------------------------------


def test_a_member_previews_her_teams_alerts(api_as, firing_alerts, teammate, owner):
    for user in (teammate, owner):
        response = api_as(user).post(URL, {"matchers": [f'job="{CLOSE}"']}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["matchers"] == [f'job="{CLOSE}"', 'team="ledger"']
        assert (body["alert_count"], body["incident_count"]) == (2, 2)
        assert {a["name"] for a in body["alerts"]} == {"CloseFailed", "CloseLate"}
        assert all(i["team"] == "ledger" for i in body["incidents"])


def test_an_outsider_cannot_preview_another_teams_alerts(api_as, firing_alerts, outsider):
    client = api_as(outsider)
    assert client.post(URL, {"matchers": ['team="ledger"']}, format="json").status_code == 403
    response = client.post(URL, {"matchers": ['team=~"led.*"', 'job=~".+"']}, format="json")
    assert response.status_code == 400
    # Her own matchers are confined to her team: ledger's job matches nothing of hers.
    body = client.post(URL, {"matchers": [f'job="{CLOSE}"']}, format="json").json()
    assert body["matchers"][-1] == 'team="risk"' and body["alert_count"] == 0
    body = client.post(URL, {"matchers": ['severity="critical"']}, format="json").json()
    assert [a["name"] for a in body["alerts"]] == ["VarFailed"]


def test_staff_preview_across_teams(api_as, firing_alerts, admin, team_b):
    body = api_as(admin).post(URL, {"matchers": ['severity="critical"']}, format="json").json()
    assert body["matchers"] == ['severity="critical"'] and body["alert_count"] == 2
    body = (
        api_as(admin)
        .post(URL, {"matchers": ['severity="critical"'], "team": "risk"}, format="json")
        .json()
    )
    assert body["alert_count"] == 1


@pytest.mark.parametrize(
    "body, status, says",
    [
        ({"matchers": ['job=~"("']}, 400, "regular expression"),
        ({"matchers": ["not a matcher"]}, 400, "not a matcher"),
        ({"matchers": ['job=~".*"']}, 400, "empty string"),
        ({"matchers": "job=x"}, 400, "list"),
        ({}, 400, "required"),
        ({"matchers": ['job="x"'], "team": "nope"}, 403, "not a member"),
    ],
)
def test_bad_input_is_a_4xx_with_a_sentence(api_as, teammate, body, status, says):
    response = api_as(teammate).post(URL, body, format="json")
    assert response.status_code == status, response.content
    assert says in response.content.decode().lower()


def test_nobody_outside_a_team_previews(api_as, make_user, db):
    assert api_as().post(URL, {"matchers": ['job="x"']}, format="json").status_code == 401
    nobody = api_as(make_user("nobody"))
    assert nobody.post(URL, {"matchers": ['job="x"']}, format="json").status_code == 403


def test_the_preview_changes_nothing_and_is_in_the_schema(api_as, firing_alerts, teammate):
    api_as(teammate).post(URL, {"matchers": [f'job="{CLOSE}"']}, format="json")
    assert not Silence.objects.exists()
    schema = api_as(teammate).get("/api/schema/?format=json").json()
    operation = schema["paths"][URL]["post"]
    assert operation["operationId"] == "silences_preview"
    assert {"200", "400", "403"} <= set(operation["responses"])
