"""Tenancy of reads (issue 20): a team reads its own alerts, silences and maintenance windows,
not another's; staff read all. What one may not read does not exist for them: not listed, and
its detail (and any action on it) is a 404. Personas: owner and teammate (team A, *ledger*),
outsider (team B, *risk*), admin (staff)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.models import Alert, Incident, IncidentAlert, MaintenanceWindow, Silence
from batchwatch.alerts.selectors_tenancy import (
    alerts_visible_to,
    maintenance_visible_to,
    silences_visible_to,
)
from batchwatch.alerts.services import integration_create
from batchwatch.catalog import services as catalog

NOW = datetime.now(UTC).replace(microsecond=0)
PERSONAS = ["owner", "teammate", "outsider", "admin"]
_ids = itertools.count(1)


def _alert(labels: dict, **fields) -> Alert:
    n = next(_ids)
    return Alert.objects.create(
        source="test",
        fingerprint=f"fp-{n}",
        labels={"alertname": f"A{n}", **labels},
        status=Alert.Status.FIRING,
        starts_at=NOW,
        first_received_at=NOW,
        last_received_at=NOW,
        **fields,
    )


def _incident(team, **fields) -> Incident:
    n = next(_ids)
    return Incident.objects.create(
        title=f"Incident {n}", group_key=f"{{}}:{{n={n}}}", team=team, created_at=NOW, **fields
    )


def _grouped(incident: Incident, alert: Alert) -> None:
    IncidentAlert.objects.create(incident=incident, alert=alert, added_at=NOW)


@pytest.fixture
def alerts(team_a, team_b, ledger_job, outsider):
    """Alerts by name, with the team they belong to."""
    risk_job = catalog.job_create(engine="other", namespace="risk", name="var", owner_team=team_b)
    ledger_hook = integration_create(name="ledger hook", kind="webhook", team=team_a)[0]
    made = {
        # ledger's: by label, by the job's owner, by the integration's team, an unknown label
        # falling through to the job's owner
        "ledger_label": _alert({"team": "ledger"}),
        "ledger_job": _alert({}, job=ledger_job),
        "ledger_integration": _alert({}, integration=ledger_hook),
        "ledger_unknown_label": _alert({"team": "nosuchteam"}, job=ledger_job),
        # risk's: the label names a team, which wins over the job's owner (as grouping says)
        "risk_label": _alert({"team": "risk"}),
        "risk_label_on_ledger_job": _alert({"team": "risk"}, job=ledger_job),
        "risk_job": _alert({}, job=risk_job),
        # nobody's: staff's
        "teamless": _alert({}),
        # risk's, but grouped into a ledger incident: ledger sees it on the incident
        "risk_in_ledger_incident": _alert({"team": "risk"}),
        # nobody's, in an incident without a team that is assigned to the outsider
        "assigned_to_outsider": _alert({}),
    }
    _grouped(_incident(team_a), made["risk_in_ledger_incident"])
    _grouped(_incident(None, assignee=outsider), made["assigned_to_outsider"])
    return made


LEDGER_ALERTS = {
    "ledger_label",
    "ledger_job",
    "ledger_integration",
    "ledger_unknown_label",
    "risk_in_ledger_incident",
}
RISK_ALERTS = {
    "risk_label",
    "risk_label_on_ledger_job",
    "risk_job",
    "risk_in_ledger_incident",
    "assigned_to_outsider",
}


def _expected_alerts(persona: str, alerts: dict) -> set[str]:
    return {
        "owner": LEDGER_ALERTS,
        "teammate": LEDGER_ALERTS,
        "outsider": RISK_ALERTS,
        "admin": set(alerts),
    }[persona]


def _listed(api, url: str, **params: str) -> set[int]:
    response = api.get(url, {"limit": 1000, **params})
    assert response.status_code == 200, response.content
    body = response.json()
    rows = body["results"] if isinstance(body, dict) else body
    return {row["id"] for row in rows}


# --- alerts -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_alert_list_shows_a_persona_their_teams_alerts(request, api_as, persona, alerts):
    user = request.getfixturevalue(persona)
    expected = {alerts[name].pk for name in _expected_alerts(persona, alerts)}
    assert _listed(api_as(user), "/api/v1/alerts/") == expected
    assert set(alerts_visible_to(user, now=NOW).values_list("pk", flat=True)) == expected


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_an_alert_one_may_not_read_is_a_404(request, api_as, persona, alerts):
    user = request.getfixturevalue(persona)
    api = api_as(user)
    visible = _expected_alerts(persona, alerts)
    for name, alert in alerts.items():
        response = api.get(f"/api/v1/alerts/{alert.pk}/")
        assert response.status_code == (200 if name in visible else 404), (name, response)
        if name in visible:
            assert response.json()["id"] == alert.pk


@pytest.mark.django_db
def test_filters_keep_the_tenancy(api_as, outsider, alerts):
    assert _listed(api_as(outsider), "/api/v1/alerts/", status="firing") == {
        alerts[name].pk for name in RISK_ALERTS
    }
    held = [alerts["ledger_label"].pk, alerts["risk_label"].pk]
    Alert.objects.filter(pk__in=held).update(suppressed_reason="silenced:1")
    assert _listed(api_as(outsider), "/api/v1/alerts/", suppressed="true") == {
        alerts["risk_label"].pk
    }


@pytest.mark.django_db
def test_the_alert_list_reads_in_a_bounded_number_of_queries(api_as, teammate, alerts, team_a):
    api = api_as(teammate)
    _listed(api, "/api/v1/alerts/")  # (warm: the token's last use)
    with CaptureQueriesContext(connection) as few:
        _listed(api, "/api/v1/alerts/")
    for _ in range(10):
        _grouped(_incident(team_a), _alert({"team": "ledger"}))
    with CaptureQueriesContext(connection) as many:
        assert len(_listed(api, "/api/v1/alerts/")) == len(LEDGER_ALERTS) + 10
    assert len(many) == len(few)


@pytest.mark.django_db
def test_anonymous_reads_nothing(api_as, alerts):
    assert api_as(None).get("/api/v1/alerts/").status_code == 401
    assert api_as(None).get("/api/v1/silences/").status_code == 401
    assert api_as(None).get("/api/v1/maintenance-windows/").status_code == 401


# --- silences -----------------------------------------------------------------------------


def _silence(comment: str, *matchers: str) -> Silence:
    return Silence.objects.create(
        matchers=list(matchers),
        starts_at=NOW - timedelta(minutes=1),
        ends_at=NOW + timedelta(days=1),
        comment=comment,
        created_at=NOW,
    )


@pytest.fixture
def silences(team_a, team_b):
    return {
        "ledger": _silence("ledger quiet", 'team="ledger"', 'job="close"'),
        "ledger_unquoted": _silence("ledger unquoted", "alertname=Late", "team = ledger"),
        "risk": _silence("risk quiet", 'team="risk"'),
        # mentions ledger, but is risk's
        "risk_mentions_ledger": _silence("risk about ledger", 'job="ledger_close"', 'team="risk"'),
        # confined to no team (a regular expression on team names names none): global ones,
        # which hold every team's alerts, so everyone signed in reads them; staff change them
        "global": _silence("global quiet", 'alertname="X"'),
        "global_regex": _silence("global regex", 'team=~"ledger|risk"'),
    }


LEDGER_SILENCES = {"ledger", "ledger_unquoted"}
RISK_SILENCES = {"risk", "risk_mentions_ledger"}
GLOBAL_SILENCES = {"global", "global_regex"}
EXPECTED_SILENCES = {
    "owner": LEDGER_SILENCES | GLOBAL_SILENCES,
    "teammate": LEDGER_SILENCES | GLOBAL_SILENCES,
    "outsider": RISK_SILENCES | GLOBAL_SILENCES,
    "admin": LEDGER_SILENCES | RISK_SILENCES | GLOBAL_SILENCES,
}


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_silence_api_shows_a_persona_their_teams_silences(request, api_as, persona, silences):
    user = request.getfixturevalue(persona)
    api = api_as(user)
    expected = EXPECTED_SILENCES[persona]
    assert _listed(api, "/api/v1/silences/") == {silences[name].pk for name in expected}
    assert set(silences_visible_to(user).values_list("pk", flat=True)) == {
        silences[name].pk for name in expected
    }
    for name, silence in silences.items():
        response = api.get(f"/api/v1/silences/{silence.pk}/")
        assert response.status_code == (200 if name in expected else 404), name


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_silences_page_lists_a_persona_their_teams_silences(request, client, persona, silences):
    client.force_login(request.getfixturevalue(persona))
    response = client.get("/silences/")
    assert response.status_code == 200
    page = response.content.decode()
    for name, silence in silences.items():
        assert (silence.comment in page) == (name in EXPECTED_SILENCES[persona]), name


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_expiring_a_silence_one_may_not_read_is_a_404(request, client, persona, silences):
    client.force_login(request.getfixturevalue(persona))
    for name, silence in silences.items():
        # (the confirmation page: it says what the silence holds; a global one is read by
        # everyone and expired by staff: the others are sent back with a sentence)
        response = client.post("/silences/", {"action": "expire", "silence": silence.pk})
        if name not in EXPECTED_SILENCES[persona]:
            assert response.status_code == 404, name
        elif name in GLOBAL_SILENCES and persona != "admin":
            assert response.status_code == 302, name
            assert "only an admin may expire it" in client.get("/silences/").content.decode(), name
        else:
            assert response.status_code == 200, name


@pytest.mark.django_db
def test_someone_in_no_team_reads_only_global_silences_and_windows(
    api_as, client, make_user, silences
):
    loner = make_user("lone")
    MaintenanceWindow.objects.create(name="w", matchers=['team="ledger"'], starts_at=NOW)
    globals_ = {silences[name].pk for name in GLOBAL_SILENCES}
    assert _listed(api_as(loner), "/api/v1/silences/") == globals_
    assert _listed(api_as(loner), "/api/v1/maintenance-windows/") == set()
    client.force_login(loner)
    page = client.get("/silences/").content.decode()
    assert "global quiet" in page and "ledger quiet" not in page
    assert "No maintenance scheduled" in page


# --- maintenance windows ------------------------------------------------------------------


@pytest.fixture
def windows(team_a, team_b):
    def window(name: str, *matchers: str) -> MaintenanceWindow:
        return MaintenanceWindow.objects.create(
            name=name, matchers=list(matchers), starts_at=NOW + timedelta(days=1)
        )

    return {
        "ledger": window("ledger patching", 'team="ledger"'),
        "risk": window("risk patching", 'team="risk"', 'job=~"ledger.*"'),
        "global": window("everyone patching", 'alertname=~".+"'),
    }


EXPECTED_WINDOWS = {
    "owner": {"ledger", "global"},
    "teammate": {"ledger", "global"},
    "outsider": {"risk", "global"},
    "admin": {"ledger", "risk", "global"},
}


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_maintenance_api_shows_a_persona_their_teams_windows(request, api_as, persona, windows):
    user = request.getfixturevalue(persona)
    api = api_as(user)
    expected = EXPECTED_WINDOWS[persona]
    url = "/api/v1/maintenance-windows/"
    assert _listed(api, url) == {windows[name].pk for name in expected}
    assert set(maintenance_visible_to(user).values_list("pk", flat=True)) == {
        windows[name].pk for name in expected
    }
    for name, window in windows.items():
        response = api.get(f"{url}{window.pk}/")
        assert response.status_code == (200 if name in expected else 404), name


@pytest.mark.django_db
@pytest.mark.parametrize("persona", PERSONAS)
def test_the_silences_page_lists_a_persona_their_teams_windows(request, client, persona, windows):
    client.force_login(request.getfixturevalue(persona))
    page = client.get("/silences/").content.decode()
    shown = set(re.findall(r"<td>(\w+ patching)</td>", page))
    assert shown == {windows[name].name for name in EXPECTED_WINDOWS[persona]}


@pytest.mark.django_db
def test_another_teams_window_cannot_be_changed_by_its_id(api_as, outsider, windows):
    url = f"/api/v1/maintenance-windows/{windows['ledger'].pk}/"
    assert api_as(outsider).patch(url, {"name": "mine"}, format="json").status_code == 404
    assert api_as(outsider).delete(url).status_code == 404
    windows["ledger"].refresh_from_db()
    assert windows["ledger"].name == "ledger patching"
