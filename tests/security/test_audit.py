"""The audit log (issue 17): who did what to the controls that decide who gets paged.
Personas: owner and teammate (team A, *ledger*), outsider (team B, *risk*), admin (staff).
A member sees their teams' events and their own actions, never another team's; staff see
all; nobody edits the log; bad filters are a 400 with a sentence; the silences page offers a
member only their own teams."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils.html import escape

from batchwatch.alerts import services as alerts
from batchwatch.alerts.models import Silence
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.catalog import services as catalog
from tests.security.test_headers import assert_secure_headers

Action = AuditEvent.Action
NOW = datetime.now(UTC).replace(microsecond=0)


def _silence_for(team_slug: str, user) -> Silence:
    return alerts.silence_create(
        matchers=['alertname="Late"', f'team="{team_slug}"'],
        starts_at=NOW,
        ends_at=NOW + timedelta(hours=1),
        comment=f"{team_slug} backfill",
        created_by=user,
        now=NOW,
    )


@pytest.fixture
def events(owner, teammate, outsider, admin, team_a, team_b):
    """One silence for each team, by one of its members, and a global one by staff."""
    AuditEvent.objects.all().delete()  # the fixtures' memberships
    return {
        "ledger": _silence_for("ledger", teammate),
        "risk": _silence_for("risk", outsider),
        "global": alerts.silence_create(
            matchers=['alertname="Everything"'],
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=1),
            comment="platform upgrade",
            created_by=admin,
            now=NOW,
        ),
    }


def _api_targets(client, **params) -> set[str]:
    response = client.get("/api/v1/audit/", params)
    assert response.status_code == 200, response.content
    return {row["target_repr"] for row in response.json()["results"]}


@pytest.mark.django_db
def test_members_see_their_teams_events_and_staff_see_all(api_as, events, owner, outsider, admin):
    ledger, risk, everything = (str(events[k]) for k in ("ledger", "risk", "global"))
    # The owner did none of it, but it is their team's.
    assert _api_targets(api_as(owner)) == {ledger}
    assert _api_targets(api_as(outsider)) == {risk}
    assert _api_targets(api_as(admin)) == {ledger, risk, everything}
    # Naming the other team's slug shows nothing more.
    assert _api_targets(api_as(outsider), team="ledger") == set()
    # Nor does asking for the event by id.
    ledger_event = AuditEvent.objects.get(target_id=str(events["ledger"].pk))
    assert api_as(outsider).get(f"/api/v1/audit/{ledger_event.pk}/").status_code == 404
    assert api_as(owner).get(f"/api/v1/audit/{ledger_event.pk}/").status_code == 200


@pytest.mark.django_db
def test_a_member_sees_their_own_actions_on_nothing_of_their_teams(api_as, events, outsider):
    record_event(Action.TOKEN_CREATED, actor=outsider, target_repr="laptop token")
    assert _api_targets(api_as(outsider)) == {str(events["risk"]), "laptop token"}


@pytest.mark.django_db
def test_anonymous_gets_nothing(api_as, events):
    assert api_as().get("/api/v1/audit/").status_code == 401
    response = Client().get("/audit/")
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.django_db
def test_the_page_shows_the_same_events(events, teammate, outsider, admin):
    client = Client()
    client.force_login(outsider)
    page = client.get("/audit/")
    assert page.status_code == 200
    assert_secure_headers(page)
    text = page.content.decode()
    assert "risk backfill" not in text  # comments are not in the log...
    assert escape(events["risk"]) in text  # ...what was silenced is
    assert escape(events["ledger"]) not in text and escape(events["global"]) not in text
    assert "127.0.0.1" not in text  # addresses are for staff
    client.force_login(admin)
    text = client.get("/audit/").content.decode()
    assert all(escape(s) in text for s in events.values())
    assert 'href="/audit/"' in text  # in the navigation


@pytest.mark.django_db
def test_the_page_has_a_helpful_empty_state(outsider):
    AuditEvent.objects.all().delete()
    client = Client()
    client.force_login(outsider)
    text = client.get("/audit/").content.decode()
    assert "Nothing recorded yet" in text and "load-config" in text
    text = client.get("/audit/", {"action": Action.TOKEN_REVOKED}).content.decode()
    assert "No events match these filters" in text


@pytest.mark.django_db
def test_filters(api_as, events, admin, team_a):
    catalog.membership_set(team=team_a, user=admin, actor=admin)
    client = api_as(admin)
    assert _api_targets(client, action=Action.ROLE_CHANGED) == {"ada in ledger"}
    assert _api_targets(client, team="risk") == {str(events["risk"])}
    assert _api_targets(client, since=(NOW + timedelta(days=1)).isoformat()) == set()
    assert len(_api_targets(client, until=(NOW + timedelta(days=1)).isoformat())) == 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field", "sentence"),
    [
        ({"action": "token.stolen"}, "action", "valid choice"),
        ({"team": "nowhere"}, "team", "There is no team 'nowhere'."),
        ({"team": "100%s"}, "team", "There is no team '100%s'."),
        ({"since": "yesterday"}, "since", "valid date/time"),
        ({"until": "2026-13-40T00:00Z"}, "until", "valid date/time"),
        ({"since": "1960-01-01T00:00Z"}, "since", "within the years 1970 to 9999"),
        (
            {"since": "2026-11-24T10:00Z", "until": "2026-11-24T09:00Z"},
            "until",
            "until must be later than since.",
        ),
        ({"limit": "-1"}, "limit", "whole number"),
    ],
)
def test_bad_filters_are_a_400_with_a_sentence(api_as, outsider, params, field, sentence):
    response = api_as(outsider).get("/api/v1/audit/", params)
    assert response.status_code == 400, response.content
    assert sentence in " ".join(response.json()[field])
    client = Client()
    client.force_login(outsider)
    page = client.get("/audit/", params)
    if field != "limit":  # (the page pages by number; a bad one shows the last page)
        assert page.status_code == 400
        assert sentence.replace("'", "&#x27;") in page.content.decode()


@pytest.mark.django_db
def test_the_api_is_read_only_and_in_the_schema(api_as, events, admin):
    event = AuditEvent.objects.first()
    client = api_as(admin)
    assert client.post("/api/v1/audit/", {"action": "token.created"}).status_code == 405
    assert (
        client.patch(f"/api/v1/audit/{event.pk}/", {"detail": {}}, format="json").status_code == 405
    )
    assert client.delete(f"/api/v1/audit/{event.pk}/").status_code == 405
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/audit/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"action", "team", "since", "until"}
    assert set(schema["paths"]["/api/v1/audit/"]) == {"get"}


@pytest.mark.django_db
def test_the_admin_list_is_read_only(events, admin):
    client = Client()
    client.force_login(admin)
    event = AuditEvent.objects.first()
    listing = client.get("/admin/audit/auditevent/", {"action__exact": Action.SILENCE_CREATED})
    assert listing.status_code == 200
    assert escape(events["ledger"]) in listing.content.decode()
    assert client.get("/admin/audit/auditevent/", {"q": "ada"}).status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    view = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert view.status_code == 200 and b'name="_save"' not in view.content  # view only
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {}).status_code == 403
    assert (
        client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    client.post(
        "/admin/audit/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.django_db
def test_no_secret_reaches_the_log(admin, team_a):
    from batchwatch.ingest.services import ingest_key_create

    _, raw = ingest_key_create(name="CI", team=team_a, created_by=admin)
    for event in AuditEvent.objects.all():
        assert raw not in f"{event.detail} {event.target_repr} {event.actor_name}"


# --- the silences page's team selector ------------------------------------------------------


def _options(page: str) -> list[str]:
    select = re.search(r'<select name="team"[^>]*>(.*?)</select>', page, re.S).group(1)
    return re.findall(r'<option value="([^"]*)"', select)


@pytest.mark.django_db
def test_a_member_picks_one_of_their_teams(client, outsider, team_a, team_b):
    client.force_login(outsider)
    assert _options(client.get("/silences/").content.decode()) == ["risk"]
    catalog.membership_set(team=team_a, user=outsider)  # now in two teams
    options = _options(client.get("/silences/").content.decode())
    assert options[0] == "" and sorted(options[1:]) == ["ledger", "risk"]
    client.post(
        "/silences/", {"matchers": 'job="x"', "hours": "1", "comment": "c", "team": "ledger"}
    )
    assert Silence.objects.get().matchers == ['job="x"', 'team="ledger"']
    event = AuditEvent.objects.filter(action=Action.SILENCE_CREATED).get()
    assert (event.actor, event.team) == (outsider, team_a)


@pytest.mark.django_db
def test_a_member_cannot_pick_another_team(client, outsider, team_a):
    client.force_login(outsider)
    page = client.post(
        "/silences/",
        {"matchers": 'job="x"', "hours": "1", "comment": "c", "team": "ledger"},
        follow=True,
    ).content.decode()
    assert "not a member of team" in page
    assert not Silence.objects.exists()


@pytest.mark.django_db
def test_staff_may_pick_any_team_or_none(client, admin, team_a, team_b):
    client.force_login(admin)
    options = _options(client.get("/silences/").content.decode())
    assert options[0] == "" and sorted(options[1:]) == ["ledger", "risk"]
    client.post("/silences/", {"matchers": 'job="x"', "hours": "1", "comment": "c", "team": ""})
    client.post("/silences/", {"matchers": 'job="y"', "hours": "1", "comment": "c", "team": "risk"})
    assert sorted(s.matchers for s in Silence.objects.all()) == [
        ['job="x"'],
        ['job="y"', 'team="risk"'],
    ]


@pytest.mark.django_db
def test_the_expire_button_is_shown_only_where_allowed(client, outsider, teammate, team_a):
    ledgers = _silence_for("ledger", teammate)
    client.force_login(outsider)
    page = client.get("/silences/").content.decode()
    assert f'name="silence" value="{ledgers.pk}"' not in page
    client.force_login(teammate)
    page = client.get("/silences/").content.decode()
    assert f'name="silence" value="{ledgers.pk}"' in page


@pytest.mark.django_db
def test_someone_in_no_team_gets_no_form(client, make_user):
    client.force_login(make_user("nobody"))
    page = client.get("/silences/").content.decode()
    assert 'name="matchers"' not in page
