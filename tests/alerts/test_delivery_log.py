"""An incident's delivery log, on its page and at ``GET /api/v1/incidents/{id}/deliveries/``:
who was paged or notified, how, our state and the provider's latest status callback. Phone
numbers are shown in full only to staff and to their person (masked to teammates); another
team's incident is a 404; the reads stay within a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.models import Incident
from batchwatch.alerts.services.phone_actions import notification_status_record
from batchwatch.notify.models import Notification
from batchwatch.notify.selectors import incident_deliveries, mask_phone
from tests.alerts.conftest import T0, firing, receive

FAILING = {"alertname": "LedgerCloseFailed", "job": "ledger_close", "team": "ledger"}
ALICE = "+14155551234"
MASKED = "+1 *** *** 1234"
SID = "SM" + "7" * 32


@pytest.fixture
def incident(route_tree, people) -> Incident:
    result = receive([firing(FAILING, severity="critical")], T0)
    incident = Incident.objects.get(pk=result.incidents_opened[0])
    # Only what each test sends: the log is about these rows.
    Notification.objects.filter(incident=incident).delete()
    return incident


def _sms(incident, user, *, key: str = "sms-1", at=T0, provider_id: str = SID) -> Notification:
    return Notification.objects.create(
        purpose=Notification.Purpose.PAGE,
        transport=Notification.Transport.SMS,
        address=ALICE,
        user=user,
        incident=incident,
        subject="x",
        idempotency_key=key,
        state=Notification.State.DELIVERED,
        attempts=1,
        provider_id=provider_id,
        created_at=at,
        next_attempt_at=at,
        delivered_at=at + timedelta(seconds=1),
    )


@pytest.fixture
def texted(incident, people) -> Notification:
    """Alice paged by SMS, and Twilio's callbacks: queued, sent, then delivered."""
    sms = _sms(incident, people["alice"])
    for i, status in enumerate(("queued", "sent", "delivered")):
        notification_status_record(
            provider_id=SID, status=status, now=T0 + timedelta(seconds=2 + i)
        )
    return sms


def _log_section(client, user, incident) -> str:
    client.force_login(user)
    response = client.get(f"/incidents/{incident.pk}/")
    assert response.status_code == 200
    return response.content.decode().split('id="paged"')[1].split("</section>")[0]


# --- The page ---------------------------------------------------------------------------------


def test_the_page_shows_an_sms_with_twilios_latest_status(client, people, incident, texted):
    section = _log_section(client, people["alice"], incident)
    assert "Delivery log" in section
    assert "alice" in section and "SMS (Twilio Messages API)" in section
    assert "Page (escalation step)" in section and SID in section
    assert '<span class="chip provider-ok">delivered</span>' in section
    assert 'data-label="Provider"' in section  # stacked rows name their cells at 390 px


def test_a_failed_callback_shows_as_a_bad_chip_with_its_error_code(client, people, incident):
    _sms(incident, people["alice"])
    notification_status_record(provider_id=SID, status="undelivered", error_code="30003", now=T0)
    section = _log_section(client, people["alice"], incident)
    assert '<span class="chip provider-bad">undelivered</span>' in section
    assert "error 30003" in section


def test_nothing_sent_is_said_in_a_sentence(client, teammate, incident):
    section = _log_section(client, teammate, incident)
    assert "Nothing has been sent about this incident yet" in section
    assert "<table" not in section


def test_a_teammate_sees_the_number_masked_its_person_and_staff_in_full(
    client, people, teammate, admin, incident, texted
):
    shown = _log_section(client, teammate, incident)
    assert MASKED in shown and ALICE not in shown
    assert ALICE in _log_section(client, people["alice"], incident)
    assert ALICE in _log_section(client, admin, incident)


def test_masking_keeps_the_country_and_the_last_four_digits():
    assert mask_phone("+14155551234") == "+1 *** *** 1234"
    assert mask_phone("+442079460018") == "+44 *** *** 0018"
    assert mask_phone("") == ""


# --- The API ----------------------------------------------------------------------------------


@pytest.fixture
def persona(request, owner, teammate, outsider, admin):
    return {"owner": owner, "member": teammate, "outsider": outsider, "staff": admin}[request.param]


@pytest.mark.parametrize("persona", ["owner", "member", "outsider", "staff"], indirect=True)
def test_the_api_per_persona(api_as, persona, outsider, admin, incident, texted):
    response = api_as(persona).get(f"/api/v1/incidents/{incident.pk}/deliveries/")
    if persona == outsider:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    (row,) = response.json()
    assert row["username"] == "alice" and row["transport"] == "sms" and row["purpose"] == "page"
    assert row["provider_id"] == SID and row["state"] == "delivered" and row["attempts"] == 1
    assert row["provider_status"] == "delivered"
    assert row["provider_status_at"].startswith("2026-11-22T03:00:04")
    assert row["address"] == (ALICE if persona == admin else MASKED)


def test_the_api_shows_the_person_their_own_number(api_as, people, incident, texted):
    (row,) = api_as(people["alice"]).get(f"/api/v1/incidents/{incident.pk}/deliveries/").json()
    assert row["address"] == ALICE


def test_the_api_refuses_anonymous_and_unknown_ids(api_as, teammate, incident):
    assert api_as().get(f"/api/v1/incidents/{incident.pk}/deliveries/").status_code in (401, 403)
    for bad in ("999999", "x"):
        assert api_as(teammate).get(f"/api/v1/incidents/{bad}/deliveries/").status_code == 404


# --- Queries ----------------------------------------------------------------------------------


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries)


def test_the_reads_do_not_grow_with_the_deliveries(
    api_as, client, people, teammate, incident, django_assert_max_num_queries
):
    api = api_as(teammate)
    url = f"/api/v1/incidents/{incident.pk}/deliveries/"
    client.force_login(teammate)
    page = f"/incidents/{incident.pk}/"
    _sms(incident, people["alice"], key="first")
    api_one, page_one = _queries(lambda: api.get(url)), _queries(lambda: client.get(page))
    for i in range(25):
        who = people[("alice", "bob", "carol")[i % 3]]
        _sms(incident, who, key=f"more-{i}", provider_id=f"SM{i:032d}")
    with django_assert_max_num_queries(api_one):
        assert len(api.get(url).json()) == 26
    with django_assert_max_num_queries(page_one):
        assert client.get(page).status_code == 200
    # The log itself is one query, people and channels joined.
    with django_assert_max_num_queries(1):
        assert len(incident_deliveries(incident_id=incident.pk, viewer=teammate)) == 26
