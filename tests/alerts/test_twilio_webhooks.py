"""Twilio's webhooks: SMS replies (``ACK 123``), keypresses on a page's call and status
callbacks. A forged, missing or misplaced signature is 403 and changes nothing; an unknown
number, a person outside the incident's team or a command not understood get a polite TwiML
answer and change nothing; the happy paths act once, recorded with the channel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from twilio.request_validator import RequestValidator

from batchwatch.accounts.models import ContactMethod
from batchwatch.alerts.models import Incident, TimelineEntry
from batchwatch.notify.models import Notification
from tests.alerts.conftest import T0, firing, receive, run_until

TOKEN = "twilio-auth-token-for-tests"
BASE = "https://batchwatch.example.com"
OUR_NUMBER = "+15005550006"
ALICE = "+442079460018"
OSCAR = "+442079460019"
STRANGER = "+442079460999"
FAILING = {"alertname": "LedgerCloseFailed", "job": "ledger_close", "team": "ledger"}


@pytest.fixture(autouse=True)
def twilio_settings(settings):
    settings.BATCHWATCH_TWILIO_AUTH_TOKEN = TOKEN
    settings.BATCHWATCH_BASE_URL = BASE


@pytest.fixture
def incident(route_tree, people) -> Incident:
    result = receive([firing(FAILING, severity="critical")], T0)
    run_until(T0 + timedelta(seconds=30), T0 + timedelta(seconds=30))
    return Incident.objects.get(pk=result.incidents_opened[0])


@pytest.fixture
def phones(people, outsider):
    for user, number, kind in (
        (people["alice"], ALICE, "sms"),
        (people["alice"], ALICE, "voice"),
        (outsider, OSCAR, "sms"),
    ):
        ContactMethod.objects.create(user=user, kind=kind, address=number, verified_at=T0)
    ContactMethod.objects.create(user=people["bob"], kind="sms", address=STRANGER)  # unverified


def sign(url: str, params: dict, token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def post(client, path: str, params: dict, *, query: str = "", signature: str | None = None):
    url = BASE + path + (f"?{query}" if query else "")
    headers = {}
    if signature != "":
        headers["HTTP_X_TWILIO_SIGNATURE"] = signature or sign(url, params)
    return client.post(path + (f"?{query}" if query else ""), params, **headers)


def sms(client, body: str, sender: str = ALICE, **options):
    params = {"MessageSid": "SM" + "1" * 32, "From": sender, "To": OUR_NUMBER, "Body": body}
    return post(client, "/integrations/twilio/sms/", params, **options)


def keypress(client, digits: str, query: str = "", callee: str = ALICE, **options):
    params = {
        "CallSid": "CA" + "2" * 32,
        "From": OUR_NUMBER,
        "To": callee,
        "Direction": "outbound-api",
        "Digits": digits,
    }
    return post(client, "/integrations/twilio/voice/", params, query=query, **options)


def message_of(response) -> str:
    text = response.content.decode()
    assert response["Content-Type"].startswith("text/xml")
    return text.split("<Message>", 1)[1].split("</Message>", 1)[0]


def said(response) -> str:
    text = response.content.decode()
    return " ".join(part.split("</Say>", 1)[0] for part in text.split("<Say>")[1:])


def state_of(incident: Incident) -> tuple:
    incident.refresh_from_db()
    return (
        incident.state,
        incident.escalation_token,
        TimelineEntry.objects.filter(incident=incident).count(),
        Notification.objects.count(),
    )


# --- signatures ---------------------------------------------------------------------------


@pytest.mark.parametrize("signature", ["", "bm90IGEgc2lnbmF0dXJl", sign(BASE + "/other/", {})])
def test_a_missing_or_forged_signature_is_refused_and_changes_nothing(
    client, incident, phones, signature
):
    before = state_of(incident)
    for response in (
        sms(client, f"ACK {incident.pk}", signature=signature),
        keypress(client, "1", query=f"incident={incident.pk}", signature=signature),
        post(client, "/integrations/twilio/status/", {"MessageSid": "SMx"}, signature=signature),
    ):
        assert response.status_code == 403
        assert "X-Twilio-Signature" in response.content.decode()
    assert state_of(incident) == before


def test_a_signature_over_other_parameters_or_another_query_is_refused(client, incident, phones):
    before = state_of(incident)
    signed_for = {"MessageSid": "SM1", "From": ALICE, "To": OUR_NUMBER, "Body": "ESC 1"}
    altered = {**signed_for, "Body": f"RES {incident.pk}"}
    url = BASE + "/integrations/twilio/sms/"
    response = post(client, "/integrations/twilio/sms/", altered, signature=sign(url, signed_for))
    assert response.status_code == 403
    other = keypress(
        client,
        "3",
        query=f"incident={incident.pk}",
        signature=sign(BASE + "/integrations/twilio/voice/?incident=999", {"Digits": "3"}),
    )
    assert other.status_code == 403
    assert state_of(incident) == before


def test_without_an_auth_token_nothing_is_accepted(client, incident, phones, settings):
    settings.BATCHWATCH_TWILIO_AUTH_TOKEN = ""
    url = BASE + "/integrations/twilio/sms/"
    params = {"From": ALICE, "Body": f"ACK {incident.pk}"}
    before = state_of(incident)
    response = post(client, "/integrations/twilio/sms/", params, signature=sign(url, params, ""))
    assert response.status_code == 403
    assert "not configured" in response.content.decode()
    assert state_of(incident) == before


def test_only_post_is_taken(client):
    assert client.get("/integrations/twilio/sms/").status_code == 405


# --- SMS replies -----------------------------------------------------------------------


def test_an_sms_ack_acknowledges_once_as_the_numbers_owner(client, incident, phones, people):
    response = sms(client, f"ack #{incident.pk}")
    assert response.status_code == 200
    assert message_of(response) == f"Incident #{incident.pk} acknowledged as alice."
    incident.refresh_from_db()
    assert incident.state == Incident.State.ACKNOWLEDGED
    assert incident.acknowledged_by == people["alice"]
    [entry] = TimelineEntry.objects.filter(incident=incident, kind="acknowledged")
    assert entry.actor_label == "alice (SMS)"
    assert entry.data == {"channel": "sms", "via": "reply"}
    before = state_of(incident)
    again = sms(client, f"ACK {incident.pk}")
    assert "already acknowledged by alice" in message_of(again)
    assert state_of(incident) == before


def test_an_sms_esc_escalates_to_the_next_step(client, incident, phones):
    pages = Notification.objects.filter(purpose="page").count()
    response = sms(client, f"Esc {incident.pk}")
    assert message_of(response) == f"Incident #{incident.pk} escalated as alice."
    assert TimelineEntry.objects.filter(incident=incident, kind="escalate_requested").count() == 1
    assert Notification.objects.filter(purpose="page").count() == pages + 1  # bob, step 2


def test_an_sms_res_while_alerts_fire_is_refused_with_the_incidents_address(
    client, incident, phones
):
    before = state_of(incident)
    reply = message_of(sms(client, f"RES {incident.pk}"))
    assert "still firing, so it was not resolved" in reply
    assert f"{BASE}/incidents/{incident.pk}/" in reply
    assert state_of(incident) == before


def test_an_unknown_or_unverified_number_is_refused_politely(client, incident, phones):
    before = state_of(incident)
    for sender in (STRANGER, "+447700900123", "not a number"):
        reply = message_of(sms(client, f"ACK {incident.pk}", sender=sender))
        assert reply.startswith("Batchwatch does not know this number")
    assert state_of(incident) == before


def test_someone_outside_the_team_or_a_missing_incident_changes_nothing(client, incident, phones):
    before = state_of(incident)
    mine = message_of(sms(client, f"ACK {incident.pk}", sender=OSCAR))
    missing = message_of(sms(client, "ACK 99999", sender=OSCAR))
    assert mine == (
        f"Incident #{incident.pk} is not one you may act on, or there is none. Nothing was changed."
    )
    assert missing == mine.replace(f"#{incident.pk}", "#99999")
    assert state_of(incident) == before


def test_a_reply_not_understood_gets_the_commands(client, incident, phones):
    before = state_of(incident)
    for body in ("thanks", "ACK", "ACK 0", f"NOPE {incident.pk}", f"ACK {incident.pk} now"):
        assert message_of(sms(client, body)).startswith("Reply ACK &lt;number&gt;")
    assert state_of(incident) == before


# --- keypresses --------------------------------------------------------------------------


def test_pressing_1_acknowledges_as_the_person_called(client, incident, phones):
    response = keypress(client, "1", query=f"incident={incident.pk}")
    assert said(response) == f"Incident #{incident.pk} acknowledged as alice."
    [entry] = TimelineEntry.objects.filter(incident=incident, kind="acknowledged")
    assert entry.actor_label == "alice (voice call)"
    assert entry.data == {"channel": "voice", "via": "reply"}


def test_the_incident_of_a_call_without_a_query_is_the_one_it_was_placed_for(
    client, incident, phones, people
):
    page = Notification.objects.filter(incident=incident).first()
    Notification.objects.filter(pk=page.pk).update(transport="voice", provider_id="CA" + "2" * 32)
    response = keypress(client, "1")
    assert said(response) == f"Incident #{incident.pk} acknowledged as alice."


def test_another_key_offers_the_menu_again_and_changes_nothing(client, incident, phones):
    before = state_of(incident)
    response = keypress(client, "9", query=f"incident={incident.pk}")
    text = response.content.decode()
    assert said(response).startswith("That key does nothing.")
    assert f'action="{BASE}/integrations/twilio/voice/?incident={incident.pk}"' in text
    assert "Press 1 to acknowledge" in text
    assert state_of(incident) == before


def test_a_call_about_no_incident_changes_nothing(client, incident, phones):
    before = state_of(incident)
    assert "no incident" in said(keypress(client, "1"))
    assert state_of(incident) == before


# --- status callbacks -------------------------------------------------------------------


def test_status_callbacks_are_recorded_on_the_notification_they_name(client, incident):
    page = Notification.objects.filter(incident=incident).first()
    Notification.objects.filter(pk=page.pk).update(provider_id="SM" + "9" * 32)
    for status in ("sent", "undelivered"):
        params = {"MessageSid": "SM" + "9" * 32, "MessageStatus": status}
        if status == "undelivered":
            params["ErrorCode"] = "30003"
        assert post(client, "/integrations/twilio/status/", params).status_code == 204
    page.refresh_from_db()
    assert page.payload["provider_status"]["status"] == "undelivered"
    assert page.payload["provider_status"]["error_code"] == "30003"
    assert [s["status"] for s in page.payload["provider_statuses"]] == ["sent", "undelivered"]
    unknown = {"CallSid": "CA" + "0" * 32, "CallStatus": "completed"}
    assert post(client, "/integrations/twilio/status/", unknown).status_code == 204
