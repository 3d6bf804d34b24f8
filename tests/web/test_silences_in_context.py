"""Silence in context: "Silence this" on incident, alert and job pages, the prefilled form with
its preview, times in the author's zone, input kept on error, expiring after a confirmation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.template import Context, Template

from batchwatch.alerts.models import Alert, Incident, Silence
from batchwatch.catalog import services as catalog
from tests.alerts.conftest import firing, receive

CLOSE = "airflow:prod-airflow/ledger_nightly_close"


@pytest.fixture
def incident(route_tree, ledger_job):
    receive(
        [
            firing(
                {"alertname": "CloseFailed", "job": CLOSE, "team": "ledger", "severity": "critical"}
            ),
            firing({"alertname": "VarFailed", "job": "spark:risk/var", "team": "risk"}),
        ],
        datetime.now(UTC),
    )
    return Incident.objects.get(title__contains="CloseFailed")


def _silence(*matchers: str, hours: float = 2) -> Silence:
    now = datetime.now(UTC)
    return Silence.objects.create(
        matchers=list(matchers),
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(hours=hours),
        comment="quiet",
        created_at=now,
    )


def _silence_links(page: str) -> list[list[str]]:
    """The matchers of each "Silence this" link of a page."""
    hrefs = re.findall(r'<a class="silence-this" href="([^"]+)"', page)
    return [parse_qs(urlsplit(h.replace("&amp;", "&")).query)["matcher"] for h in hrefs]


# --- "Silence this" -----------------------------------------------------------------------


def test_the_job_page_offers_to_silence_the_job(client, teammate, ledger_job):
    client.force_login(teammate)
    page = client.get(f"/jobs/{ledger_job.pk}/").content.decode()
    assert _silence_links(page) == [[f'job="{CLOSE}"']]


def test_silence_this_on_an_incident_and_an_alert(incident):
    alert = Alert.objects.get(labels__alertname="CloseFailed")
    html = Template("{% load bw_silences %}{% silence_this incident %}|{% silence_this alert %}")
    page = html.render(Context({"incident": incident, "alert": alert}))
    on_incident, on_alert = _silence_links(page)
    assert on_incident == ['alertname="CloseFailed"', f'job="{CLOSE}"']
    assert on_alert == [
        'alertname="CloseFailed"',
        f'job="{CLOSE}"',
        'severity="critical"',
        'team="ledger"',
    ]
    # The include works with matchers of one's own, and shows nothing without any.
    html = Template('{% include "web/_silence_this.html" with matchers=m silence_label="Mute" %}')
    assert "Mute" in html.render(Context({"m": ['job="x"']}))
    assert "silence-this" not in html.render(Context({"m": []}))


def test_the_prefilled_form_shows_the_matchers_and_what_they_match(client, teammate, incident):
    client.force_login(teammate)
    page = client.get("/silences/", {"matcher": [f'job="{CLOSE}"', 'severity=~"crit.*"']})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="m_name" value="job"' in html and f'value="{CLOSE}"' in html
    assert '<option value="=~" selected>' in html
    # The server's own preview (the script refreshes it as the rows change).
    assert re.search(r"data-alert-count>1<", html) and re.search(r"data-incident-count>1<", html)
    assert f"#{incident.pk} " in html
    assert "batchwatch/silences.js" in html and "<script>" not in html


def test_an_outsider_gets_no_preview_of_another_teams_alerts(client, outsider, incident):
    client.force_login(outsider)
    html = client.get("/silences/", {"matcher": 'team="ledger"'}).content.decode()
    assert "not a member of team" in html and "data-alert-count" not in html
    # Her own matchers are confined to her team: ledger's job matches nothing of hers.
    html = client.get("/silences/", {"matcher": f'job="{CLOSE}"'}).content.decode()
    assert re.search(r"data-alert-count>0<", html) and "CloseFailed" not in html


# --- the form ---------------------------------------------------------------------------------


def _form(**fields) -> dict:
    return {
        "m_name": ["job", ""],
        "m_op": ["=", "="],
        "m_value": [CLOSE, ""],
        "tz": "UTC",
        "hours": "2",
        "comment": "re-run",
        **fields,
    }


def test_times_are_read_in_the_authors_zone_and_stored_in_utc(client, teammate):
    client.force_login(teammate)
    response = client.post(
        "/silences/",
        _form(tz="Europe/Paris", starts_at="2030-01-10T09:00", ends_at="2030-01-10T11:30"),
    )
    assert response.status_code == 302
    silence = Silence.objects.get()
    assert silence.matchers == [f'job="{CLOSE}"', 'team="ledger"']
    assert silence.starts_at == datetime(2030, 1, 10, 8, 0, tzinfo=UTC)
    assert silence.ends_at == datetime(2030, 1, 10, 10, 30, tzinfo=UTC)


def test_no_times_is_now_for_the_duration_and_an_unknown_zone_is_utc(client, teammate):
    client.force_login(teammate)
    before = datetime.now(UTC)
    client.post("/silences/", _form(tz="Mars/Olympus", hours="1.5"))
    silence = Silence.objects.get()
    assert before <= silence.starts_at <= datetime.now(UTC)
    assert silence.ends_at - silence.starts_at == timedelta(hours=1.5)
    client.post("/silences/", _form(tz="Mars/Olympus", starts_at="2030-01-10T09:00"))
    assert Silence.objects.latest("pk").starts_at == datetime(2030, 1, 10, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "fields, field, says",
    [
        (
            {"m_op": ["=~", "="], "m_value": ["(unclosed", ""]},
            "matchers",
            "regular expression is invalid",
        ),
        ({"m_op": ["~~", "="]}, "matchers", "Choose one of"),
        ({"starts_at": "2030-01-10T09:00", "ends_at": "2030-01-10T08:00"}, "ends_at", "after"),
        ({"starts_at": "yesterday"}, "starts_at", "date and time"),
        ({"ends_at": "", "hours": "0"}, "ends_at", "a duration of at most"),
        ({"comment": ""}, "comment", "Say why"),
        ({"matchers": "not a matcher"}, "matchers", "not a matcher"),
    ],
)
def test_a_refused_form_keeps_its_input_and_says_why_in_place(
    client, teammate, fields, field, says
):
    client.force_login(teammate)
    sent = _form(comment="keep me", starts_at="2030-01-10T09:00", ends_at="2030-01-10T10:00")
    sent.update(fields)
    response = client.post("/silences/", sent)
    assert response.status_code == 400
    html = response.content.decode()
    assert not Silence.objects.exists()
    assert says in html
    # What was typed is there again: the rows, the times, the comment.
    assert f'value="{sent["m_value"][0]}"' in html
    assert f'value="{sent["starts_at"]}"' in html
    if sent["comment"]:
        assert 'value="keep me"' in html
    # The error sits with its field: after it, before the next one.
    after, before = {
        "matchers": ('class="matcher-fields"', 'name="team"'),
        "starts_at": ('name="starts_at"', 'name="ends_at"'),
        "ends_at": ('name="hours"', 'name="comment"'),
        "comment": ('name="comment"', "data-preview-body"),
    }[field]
    assert html.index(after) < html.index(says) < html.index(before)


def test_the_preview_button_previews_without_creating(client, teammate, incident):
    client.force_login(teammate)
    response = client.post("/silences/", _form(action="preview", comment=""))
    assert response.status_code == 200
    assert re.search(r"data-alert-count>1<", response.content.decode())
    assert not Silence.objects.exists()


def test_a_member_cannot_silence_another_teams_alerts_on_the_page(client, outsider, incident):
    client.force_login(outsider)
    response = client.post(
        "/silences/", _form(m_name=["team", ""], m_value=["ledger", ""], team="")
    )
    assert response.status_code == 400 and "not a member of team" in response.content.decode()
    response = client.post("/silences/", _form(team="ledger"))
    assert response.status_code == 400 and "not a member of team" in response.content.decode()
    assert not Silence.objects.exists()


# --- expiring ---------------------------------------------------------------------------------


def test_expiring_asks_first(client, teammate, incident):
    silence = _silence('team="ledger"', f'job="{CLOSE}"')
    client.force_login(teammate)
    response = client.post("/silences/", {"action": "expire", "silence": silence.pk})
    html = response.content.decode()
    assert response.status_code == 200 and "Expire silence" in html
    assert 'name="confirm" value="1"' in html and "onclick" not in html
    assert "1</strong> firing alert matches it now" in html
    silence.refresh_from_db()
    assert silence.state_at(datetime.now(UTC)) == "active"
    client.post("/silences/", {"action": "expire", "silence": silence.pk, "confirm": "1"})
    silence.refresh_from_db()
    assert silence.state_at(datetime.now(UTC)) == "expired"


@pytest.mark.parametrize("persona", ["outsider", "teammate", "owner", "admin"])
def test_who_may_expire_which_silence(client, request, persona, team_a, team_b):
    user = request.getfixturevalue(persona)
    ledgers = _silence('team="ledger"', 'job="close"')
    global_one = _silence('alertname="X"')
    client.force_login(user)
    for silence in (ledgers, global_one):
        client.post("/silences/", {"action": "expire", "silence": silence.pk, "confirm": "1"})
    now = datetime.now(UTC)
    ledgers.refresh_from_db()
    global_one.refresh_from_db()
    expected = {
        "outsider": ("active", "active"),
        "teammate": ("expired", "active"),
        "owner": ("expired", "active"),
        "admin": ("expired", "expired"),
    }[persona]
    assert (ledgers.state_at(now), global_one.state_at(now)) == expected


def test_the_confirmation_of_an_unknown_silence_is_a_404(client, teammate):
    client.force_login(teammate)
    assert client.post("/silences/", {"action": "expire", "silence": "nope"}).status_code == 404
    assert client.post("/silences/", {"action": "expire", "silence": 999}).status_code == 404


def test_the_incident_page_offers_to_silence_the_incident_and_each_alert(
    client, teammate, incident
):
    client.force_login(teammate)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    links = _silence_links(page)
    assert ['alertname="CloseFailed"', f'job="{CLOSE}"'] in links
    assert [
        'alertname="CloseFailed"',
        f'job="{CLOSE}"',
        'severity="critical"',
        'team="ledger"',
    ] in links


def test_each_row_says_what_is_wrong_with_it_and_every_error_shows_at_once(client, teammate):
    client.force_login(teammate)
    sent = _form(
        m_name=["1job", "job", "sev"],
        m_op=["=", "=~", "="],
        m_value=["x", "(bad", "critical"],
        comment="",
        ends_at="2020-01-01T00:00",
        starts_at="2030-01-01T00:00",
    )
    html = client.post("/silences/", sent).content.decode()
    rows = re.findall(r'<tr class="matcher-error"><td colspan="4" class="error">([^<]*)<', html)
    assert rows[0].startswith("A label is a letter")
    assert rows[1].startswith("The regular expression is invalid")
    assert len(rows) == 2  # the good row has none
    assert "The end must be after the start." in html and "Say why" in html
    assert 'value="critical"' in html and not Silence.objects.exists()


def test_silence_this_chooses_the_team_for_a_member_of_several(client, teammate, team_b, incident):
    catalog.membership_set(team=team_b, user=teammate)
    html = Template("{% load bw_silences %}{% silence_this incident %}").render(
        Context({"incident": incident})
    )
    href = re.search(r'href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(href).query)["team"] == ["ledger"]
    client.force_login(teammate)
    form = client.get(href).content.decode()
    assert "several teams" not in form and re.search(r"data-alert-count>1<", form)
    assert '<option value="ledger" selected>' in form
