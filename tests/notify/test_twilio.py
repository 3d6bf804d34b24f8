"""SMS and voice pages through Twilio's REST API (the stand-in in twilio_server.py, reached by
the real ``twilio`` client): one message or call per page, the SID recorded for status
callbacks, Twilio's errors sorted into permanent and temporary."""

from __future__ import annotations

import re
from datetime import timedelta

from twilio.request_validator import RequestValidator

from batchwatch.notify.models import Notification
from batchwatch.notify.services import deliver, deliver_due
from tests.notify.paging import HOSTILE_JOB, T0, open_incident, page
from tests.notify.twilio_server import AUTH_TOKEN, FROM, error

PHONE = "+447700900123"


def test_an_sms_page_is_one_message_and_records_its_sid(db, twilio, settings):
    links = {"acknowledge": "https://bw.example/a/7-ack-" + "s" * 32 + "/"}
    notification = page("sms", PHONE, payload={"action_links": links})
    assert deliver_due(now=T0) == 1
    assert deliver_due(now=T0 + timedelta(minutes=5)) == 0
    assert len(twilio.messages) == 1
    sent = twilio.messages[0]
    assert (sent.get("To"), sent.get("From")) == (PHONE, FROM)
    assert (
        sent.get("StatusCallback") == settings.BATCHWATCH_BASE_URL + "/integrations/twilio/status/"
    )
    body = sent.get("Body")
    assert len(body) <= 160 and "Ledger close failed" in body
    assert body.endswith("\nAck: " + links["acknowledge"])
    notification.refresh_from_db()
    assert notification.state == "delivered" and notification.provider_id == sent.sid
    assert re.fullmatch(r"SM[0-9a-f]{32}", notification.provider_id)


def test_the_sms_of_an_incident_has_its_number_and_fits_one_segment(
    db, twilio, route_tree, settings
):
    incident = open_incident(job="x" * 300)
    page("sms", PHONE, incident=incident)
    assert deliver_due(now=T0) == 1
    body = twilio.messages[0].get("Body")
    assert body.startswith(f"Batchwatch #{incident.pk} ")
    assert len(body) <= 160 and body.isascii()
    assert body.endswith(f"/incidents/{incident.pk}/")  # no action links: the incident's page


def test_hostile_text_reaches_an_sms_on_one_line_without_control_characters(db, twilio):
    page("sms", PHONE, subject=HOSTILE_JOB)
    deliver_due(now=T0)
    first_line = twilio.messages[0].get("Body").split("\n")[0]
    assert first_line.isprintable() and "\x1b" not in first_line and "\r" not in first_line
    assert "[Sign in](https://evil.example/login)" in first_line  # shown as typed: SMS is text


def test_status_callbacks_are_signed_as_twilio_signs_them(db, twilio):
    notification = page("sms", PHONE)
    deliver_due(now=T0)
    notification.refresh_from_db()
    url, params = twilio.callback_params(notification.provider_id, "delivered")
    signature = twilio.signed(url, params)["X-Twilio-Signature"]
    assert params["MessageSid"] == notification.provider_id
    assert RequestValidator(AUTH_TOKEN).validate(url, params, signature)
    assert not RequestValidator("another token").validate(url, params, signature)


def test_a_voice_page_places_one_call_reading_the_incident_out(db, twilio, route_tree, settings):
    incident = open_incident(job="ledger <close> & post")
    notification = page("voice", PHONE, incident=incident)
    assert deliver_due(now=T0) == 1
    assert len(twilio.calls) == 1 and twilio.messages == []
    call = twilio.calls[0]
    twiml = call.get("Twiml")
    assert call.get("Url") == ""
    assert (
        '<Gather action="' + settings.BATCHWATCH_BASE_URL + "/integrations/twilio/voice/" in twiml
    )
    assert 'numDigits="1"' in twiml
    assert f"Incident {incident.pk}." in twiml
    assert "Press 1 to acknowledge, 2 to escalate, 3 to resolve." in twiml
    assert "&lt;close&gt; &amp; post" in twiml and "<close>" not in twiml  # XML-escaped
    assert call.params["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    # The keypress names its incident itself, even before the call's SID is stored.
    assert twilio.gather_action(call.sid).endswith(
        f"/integrations/twilio/voice/?incident={incident.pk}"
    )
    notification.refresh_from_db()
    assert notification.provider_id == call.sid and call.sid.startswith("CA")


def test_a_number_that_replied_stop_fails_at_once(db, twilio):
    twilio.unsubscribed.add(PHONE)
    notification = page("sms", PHONE)
    assert deliver(notification.pk, now=T0) == "failed"
    notification.refresh_from_db()
    assert notification.attempts == 1 and "21610" in notification.last_error
    assert deliver_due(now=T0 + timedelta(hours=1)) == 0 and twilio.messages == []


def test_an_invalid_number_fails_at_once(db, twilio):
    notification = page("voice", "07700 900123")
    assert deliver(notification.pk, now=T0) == "failed"
    notification.refresh_from_db()
    assert "21211" in notification.last_error and "not a valid phone number" in (
        notification.last_error
    )


def test_wrong_credentials_fail(db, twilio, settings):
    settings.BATCHWATCH_TWILIO_AUTH_TOKEN = "not-the-token"
    notification = page("sms", PHONE)
    assert deliver(notification.pk, now=T0) == "failed"
    notification.refresh_from_db()
    assert "401" in notification.last_error and "20003" in notification.last_error


def test_twilio_not_configured_fails_with_what_to_set(db, settings):
    settings.BATCHWATCH_TWILIO_ACCOUNT_SID = ""
    notification = page("sms", PHONE)
    assert deliver(notification.pk, now=T0) == "failed"
    notification.refresh_from_db()
    assert "BATCHWATCH_TWILIO_ACCOUNT_SID" in notification.last_error


def test_too_many_requests_is_retried_after_what_twilio_says(db, twilio):
    twilio.fail(429, error(429, 20429, "Too Many Requests").body, retry_after=30)
    notification = page("sms", PHONE)
    assert deliver(notification.pk, now=T0) == "pending"
    notification.refresh_from_db()
    assert notification.next_attempt_at == T0 + timedelta(seconds=30)
    assert "20429" in notification.last_error
    assert deliver_due(now=T0 + timedelta(seconds=29)) == 0
    assert deliver_due(now=T0 + timedelta(seconds=30)) == 1
    assert len(twilio.messages) == 1  # the refused request made no message


def test_a_twilio_outage_is_retried_with_backoff(db, twilio):
    twilio.fail(503, b"Service Unavailable", times=2)
    notification = page("voice", PHONE)
    assert deliver(notification.pk, now=T0) == "pending"
    notification.refresh_from_db()
    assert notification.next_attempt_at == T0 + timedelta(seconds=5)
    assert deliver(notification.pk, now=T0 + timedelta(seconds=5)) == "pending"
    notification.refresh_from_db()
    assert notification.next_attempt_at == T0 + timedelta(seconds=15)
    assert deliver_due(now=T0 + timedelta(seconds=15)) == 1
    notification.refresh_from_db()
    assert notification.attempts == 3 and len(twilio.calls) == 1
    assert Notification.objects.get().state == "delivered"


def test_a_lost_answer_means_a_second_sms(db, twilio):
    # Twilio's REST API takes no idempotency key: a message Twilio made but whose answer was
    # lost is sent again on retry. The at-least-once window of docs/alerting.md, measured.
    twilio.lose_answers = 1
    notification = page("sms", PHONE)
    assert deliver(notification.pk, now=T0) == "pending"
    assert deliver_due(now=T0 + timedelta(seconds=5)) == 1
    assert len(twilio.messages) == 2
    notification.refresh_from_db()
    assert notification.provider_id == twilio.messages[1].sid
