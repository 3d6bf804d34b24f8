"""The incident list (the page and ``GET /api/v1/incidents/``) shows a person exactly the
incidents whose page they may open (``alerts.permissions.can_view_incident``): staff all; the
owning team, its on-call now, the assignee and whoever it paged theirs; nobody else's."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.models import Incident
from batchwatch.alerts.permissions import can_view_incident
from batchwatch.alerts.selectors_people import incidents_visible_to
from batchwatch.notify.models import Notification
from batchwatch.oncall.services import override_add

NOW = datetime.now(UTC).replace(microsecond=0)


def _incident(title: str, team, **extra) -> Incident:
    return Incident.objects.create(
        title=title,
        team=team,
        group_key=f"{{}}:{{title={title}}}",
        created_at=NOW - timedelta(minutes=5),
        group_wait=timedelta(seconds=30),
        group_interval=timedelta(minutes=5),
        repeat_interval=timedelta(hours=4),
        **extra,
    )


def _paged(incident: Incident, user) -> None:
    Notification.objects.create(
        purpose=Notification.Purpose.PAGE,
        transport=Notification.Transport.EMAIL,
        address=f"{user.username}@example.com",
        user=user,
        idempotency_key=f"page-{incident.pk}-{user.pk}",
        incident=incident,
        subject="x",
        created_at=NOW,
        next_attempt_at=NOW,
    )


@pytest.fixture
def guest(make_user, rotation):
    """On call for Ledger now (an override), without being a member of any team."""
    user = make_user("gus")
    override_add(
        rotation=rotation,
        user=user,
        starts_at=NOW - timedelta(hours=1),
        ends_at=NOW + timedelta(hours=1),
    )
    return user


@pytest.fixture
def mix(team_a, team_b, teammate, outsider, make_user):
    """Incidents of both teams and of none, one assigned across teams, one paging across."""
    stranger = make_user("sven")
    incidents = {
        "ledger": _incident("Ledger close failed", team_a),
        "ledger-resolved": _incident(
            "Ledger close was late", team_a, state=Incident.State.RESOLVED, resolved_at=NOW
        ),
        "risk": _incident("Risk scores late", team_b),
        "risk-assigned": _incident("Risk feed stuck", team_b, assignee=teammate),
        "risk-paged": _incident("Risk model failed", team_b),
        "nobody": _incident("Nobody's alert", None),
        "nobody-assigned": _incident("Nobody's but assigned", None, assignee=outsider),
        "stranger-paged": _incident("Ledger paged someone else", team_a),
    }
    _paged(incidents["risk-paged"], teammate)
    _paged(incidents["stranger-paged"], stranger)
    return incidents


@pytest.fixture
def persona(request, admin, owner, teammate, outsider, guest):
    return {
        "staff": admin,
        "owner": owner,
        "member": teammate,
        "outsider": outsider,
        "on-call": guest,
    }[request.param]


PERSONAS = ["staff", "owner", "member", "outsider", "on-call"]
EXPECTED = {
    "staff": "all",
    "owner": {"ledger", "ledger-resolved", "stranger-paged"},
    "member": {"ledger", "ledger-resolved", "stranger-paged", "risk-assigned", "risk-paged"},
    "outsider": {"risk", "risk-assigned", "risk-paged", "nobody-assigned"},
    "on-call": {"ledger", "ledger-resolved", "stranger-paged"},
}


def _expected(persona_name: str, mix: dict[str, Incident]) -> set[int]:
    names = set(mix) if EXPECTED[persona_name] == "all" else EXPECTED[persona_name]
    return {mix[name].pk for name in names}


def _listed(page: str) -> set[int]:
    return {int(i) for i in re.findall(r'href="/incidents/(\d+)/">#', page)}


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_the_selector_agrees_with_can_view_incident(persona, mix, request):
    """One rule, two forms: the query and the per-incident check never disagree."""
    visible = set(incidents_visible_to(persona, now=NOW).values_list("pk", flat=True))
    assert visible == {i.pk for i in mix.values() if can_view_incident(persona, i, NOW)}
    assert visible == _expected(request.node.callspec.params["persona"], mix)


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_the_page_lists_only_what_the_person_may_open(client, persona, mix, request):
    client.force_login(persona)
    page = client.get("/incidents/?state=all").content.decode()
    assert _listed(page) == {i.pk for i in mix.values() if can_view_incident(persona, i, NOW)}
    for incident in mix.values():
        shown = incident.title.replace("'", "&#x27;") in page
        assert shown == (incident.pk in _listed(page)), incident.title
    open_only = _listed(client.get("/incidents/").content.decode())
    assert open_only == _expected(request.node.callspec.params["persona"], mix) - {
        mix["ledger-resolved"].pk
    }


@pytest.mark.parametrize("persona", PERSONAS, indirect=True)
def test_the_api_lists_and_reads_only_what_the_person_may_open(api_as, persona, mix):
    client = api_as(persona)
    body = client.get("/api/v1/incidents/?limit=100").json()
    visible = {i.pk for i in mix.values() if can_view_incident(persona, i, NOW)}
    assert {row["id"] for row in body["results"]} == visible and body["count"] == len(visible)
    for incident in mix.values():
        response = client.get(f"/api/v1/incidents/{incident.pk}/")
        assert response.status_code == (200 if incident.pk in visible else 404)


def test_a_team_filter_does_not_widen_it(client, outsider, mix):
    client.force_login(outsider)
    page = client.get("/incidents/?state=all&team=ledger").content.decode()
    assert _listed(page) == set() and "Ledger close failed" not in page


def test_the_page_reads_in_a_fixed_number_of_queries(
    client, teammate, team_a, team_b, mix, django_assert_max_num_queries
):
    client.force_login(teammate)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/incidents/?state=all").status_code == 200
    for i in range(10):
        _paged(_incident(f"Risk {i}", team_b), teammate)
        _incident(f"Ledger {i}", team_a, assignee=teammate)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get("/incidents/?state=all").content.decode()
    assert len(_listed(page)) == len(EXPECTED["member"]) + 20


def test_someone_it_paged_reads_it_in_the_api_but_may_not_act(api_as, outsider, mix):
    ledger = mix["ledger"]
    _paged(ledger, outsider)
    client = api_as(outsider)
    assert client.get(f"/api/v1/incidents/{ledger.pk}/").status_code == 200
    response = client.post(f"/api/v1/incidents/{ledger.pk}/acknowledge/")
    assert response.status_code == 403 and "owning team" in response.json()["detail"]
