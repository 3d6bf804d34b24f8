"""An escalation step that reaches a person starts their notification rules: one page per
rule, each due at its delay (a low-urgency one after the person's quiet hours), fenced by the
incident's escalation token so that an acknowledgement anywhere stops them all; a page that
fails for good brings the person's next one forward. Against the Twilio and ntfy stand-ins,
reached by the real clients."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.db import transaction
from twilio.request_validator import RequestValidator

from batchwatch.accounts.models import ContactMethod, NotificationRule, Profile
from batchwatch.alerts.models import Incident, Timer
from batchwatch.alerts.services.escalation import _escalate
from batchwatch.notify.models import Notification
from batchwatch.notify.services import deliver_due
from tests.alerts.conftest import T0, firing, receive, run_until
from tests.notify.twilio_server import AUTH_TOKEN

BASE = "https://batchwatch.example.com"
ALICE_MOBILE = "+442079460018"
ALICE_DESK = "+442079460017"
TOPIC = "bw-alice-" + "a" * 16
FAILING = {"alertname": "LedgerCloseFailed", "job": "ledger_close", "team": "ledger"}
STEP_AT = T0 + timedelta(seconds=30)  # the root route's group_wait


@pytest.fixture(autouse=True)
def base_url(settings):
    settings.BATCHWATCH_BASE_URL = BASE


def rules(user, urgency: str, *steps: tuple[str, str, int]) -> None:
    for position, (kind, address, delay) in enumerate(steps):
        method, _ = ContactMethod.objects.get_or_create(
            user=user, kind=kind, address=address, defaults={"verified_at": T0}
        )
        NotificationRule.objects.create(
            user=user,
            urgency=urgency,
            contact_method=method,
            delay_minutes=delay,
            position=position,
        )


@pytest.fixture
def alice_rules(people):
    rules(
        people["alice"],
        "high",
        ("push", TOPIC, 0),
        ("sms", ALICE_MOBILE, 2),
        ("voice", ALICE_DESK, 5),
    )
    return people["alice"]


def open_incident(severity: str = "critical") -> Incident:
    result = receive([firing(FAILING, severity=severity)], T0)
    run_until(STEP_AT, STEP_AT)  # the flush, and escalation step 1 (alice, on call)
    return Incident.objects.get(pk=result.incidents_opened[0])


def rows_of(user) -> dict[str, Notification]:
    return {n.transport: n for n in Notification.objects.filter(purpose="page", user=user)}


def reply_sms(client, body: str, sender: str):
    params = {"MessageSid": "SM" + "1" * 32, "From": sender, "To": "+15005550006", "Body": body}
    url = BASE + "/integrations/twilio/sms/"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return client.post("/integrations/twilio/sms/", params, HTTP_X_TWILIO_SIGNATURE=signature)


def test_push_then_sms_then_an_sms_ack_and_no_call_is_ever_placed(
    client, route_tree, alice_rules, people, twilio, ntfy
):
    incident = open_incident()
    assert incident.urgency == "high"
    pages = rows_of(alice_rules)
    assert {t: n.next_attempt_at - STEP_AT for t, n in pages.items()} == {
        "push": timedelta(0),
        "sms": timedelta(minutes=2),
        "voice": timedelta(minutes=5),
    }
    assert all(n.payload["token"] == incident.escalation_token for n in pages.values())
    assert set(pages["sms"].payload["action_links"]) >= {"acknowledge", "resolve"}
    assert not Notification.objects.filter(address="alice@example.com").exists()

    deliver_due(now=STEP_AT)
    assert [m["topic"] for m in ntfy.messages] == [TOPIC]
    assert twilio.created == []
    deliver_due(now=STEP_AT + timedelta(minutes=1, seconds=59))
    assert twilio.created == []
    deliver_due(now=STEP_AT + timedelta(minutes=2))
    assert [m.get("To") for m in twilio.messages] == [ALICE_MOBILE]  # not acknowledged yet

    response = reply_sms(client, f"ACK {incident.pk}", ALICE_MOBILE)
    assert response.status_code == 200 and b"acknowledged as alice" in response.content
    incident.refresh_from_db()
    assert incident.state == Incident.State.ACKNOWLEDGED

    at = STEP_AT + timedelta(minutes=3)
    while at <= T0 + timedelta(hours=1):
        run_until(at, at)
        deliver_due(now=at)
        at += timedelta(minutes=1)
    voice = Notification.objects.get(pk=pages["voice"].pk)
    assert voice.state == Notification.State.CANCELLED
    assert voice.last_error == "acknowledged elsewhere"
    assert (len(ntfy.messages), len(twilio.messages), len(twilio.calls)) == (1, 1, 0)
    # The rest of the escalation: step 2 (bob) never pages, no timer is left to do it.
    assert not Notification.objects.filter(purpose="page", user=people["bob"]).exists()
    [step_two] = Timer.objects.filter(incident=incident, kind=Timer.Kind.ESCALATE)
    assert step_two.state in (Timer.State.CANCELLED, Timer.State.STALE)
    assert incident.timeline.filter(kind="escalated").count() == 1


def test_a_page_that_fails_for_good_brings_the_next_method_forward(
    route_tree, alice_rules, twilio, ntfy
):
    twilio.unsubscribed.add(ALICE_MOBILE)  # the SMS is refused (21610): permanent
    open_incident()
    pages = rows_of(alice_rules)
    deliver_due(now=STEP_AT)
    deliver_due(now=STEP_AT + timedelta(minutes=2))
    sms = Notification.objects.get(pk=pages["sms"].pk)
    assert sms.state == Notification.State.FAILED and "21610" in sms.last_error
    # The call, due at +5 min, went out in the same sweep as the failed SMS.
    assert [c.get("To") for c in twilio.calls] == [ALICE_DESK]
    voice = Notification.objects.get(pk=pages["voice"].pk)
    assert voice.state == Notification.State.DELIVERED
    assert voice.delivered_at == STEP_AT + timedelta(minutes=2)


def test_a_low_urgency_page_waits_for_the_end_of_quiet_hours(route_tree, people, ntfy):
    alice = people["alice"]
    rules(alice, "low", ("push", TOPIC, 0))
    rules(alice, "high", ("sms", ALICE_MOBILE, 0))  # not for a low-urgency page
    Profile.objects.create(user=alice, quiet_start=time(22, 0), quiet_end=time(7, 0))
    incident = open_incident(severity="warning")
    assert incident.urgency == "low"
    [push] = Notification.objects.filter(purpose="page", user=alice)
    assert push.transport == "push"
    assert push.next_attempt_at == T0.replace(hour=7, minute=0)  # 03:00 UTC is quiet
    deliver_due(now=T0.replace(hour=6, minute=59))
    assert ntfy.messages == []
    deliver_due(now=T0.replace(hour=7))
    assert [m["topic"] for m in ntfy.messages] == [TOPIC]


def test_a_step_run_twice_writes_each_page_once(route_tree, alice_rules):
    incident = open_incident()
    before = sorted(Notification.objects.values_list("idempotency_key", flat=True))
    with transaction.atomic():
        _escalate(incident, 0, 0, STEP_AT + timedelta(seconds=5))
    assert sorted(Notification.objects.values_list("idempotency_key", flat=True)) == before
    keys = [k for k in before if ":rule:" in k]
    token = incident.escalation_token
    assert keys == sorted(
        f"page:{incident.pk}:{token}:0:0:rule:{r.pk}"
        for r in NotificationRule.objects.filter(user=alice_rules)
    )


def test_without_rules_of_the_urgency_the_account_email_is_paged(route_tree, people):
    rules(people["alice"], "low", ("sms", ALICE_MOBILE, 0))  # high urgency has none
    open_incident()
    [page] = Notification.objects.filter(purpose="page", user=people["alice"])
    assert (page.transport, page.address) == ("email", "alice@example.com")
    assert "token" not in page.payload


def test_an_unverified_method_pages_nobody_through_its_rule(route_tree, people):
    rules(people["alice"], "high", ("sms", ALICE_MOBILE, 0))
    ContactMethod.objects.filter(user=people["alice"]).update(verified_at=None)
    open_incident()
    [page] = Notification.objects.filter(purpose="page", user=people["alice"])
    assert page.transport == "email"


def test_quiet_hours_end_on_the_persons_wall_clock():
    profile = Profile(quiet_start=time(22, 0), quiet_end=time(7, 0), time_zone="Europe/Paris")
    late = T0.replace(hour=22, minute=30)  # 23:30 in Paris: quiet until 07:00 tomorrow
    assert profile.quiet_until(late) == T0.replace(day=23, hour=6, minute=0)
    early = T0.replace(hour=5)  # 06:00 in Paris
    assert profile.quiet_until(early) == T0.replace(hour=6, minute=0)
    noon = T0.replace(hour=11)
    assert profile.quiet_until(noon) == noon
    assert Profile(time_zone="Europe/Paris").quiet_until(late) == late
