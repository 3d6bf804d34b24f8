"""/api/v1/me/contact-methods/ and /api/v1/me/notification-rules/: one's own only. Someone
else's method or rule is a 404 for everyone, staff included (staff use the admin); bad input
is a 400 that says what is wrong; a message sent moments ago is a 429 with Retry-After."""

from __future__ import annotations

import re

import pytest

from batchwatch.accounts import services
from batchwatch.accounts.models import ContactMethod, NotificationRule
from batchwatch.notify.models import Notification
from batchwatch.notify.services_contact import recipient_for

pytestmark = pytest.mark.django_db
METHODS = "/api/v1/me/contact-methods/"
RULES = "/api/v1/me/notification-rules/"


def _code_sent(method_id: int) -> str:
    sent = Notification.objects.filter(payload__contact_method=method_id).latest("id")
    return re.search(r"\d{6}", sent.subject).group(0)


def _add_and_verify(client, **body) -> dict:
    method = client.post(METHODS, body, format="json").json()
    assert client.post(f"{METHODS}{method['id']}/send-code/").status_code == 202
    answer = client.post(
        f"{METHODS}{method['id']}/verify/", {"code": _code_sent(method["id"])}, format="json"
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def test_a_person_adds_verifies_and_tests_an_sms_method(api_as, teammate):
    client = api_as(teammate)
    created = client.post(METHODS, {"kind": "sms", "address": "+1 (415) 555-0100"}, format="json")
    assert created.status_code == 201
    assert created.json()["address"] == "+14155550100" and created.json()["verified"] is False
    method_id = created.json()["id"]

    untested = client.post(f"{METHODS}{method_id}/test/")
    assert untested.status_code == 400 and "Verify this contact method first" in str(
        untested.json()
    )

    assert client.post(f"{METHODS}{method_id}/send-code/").status_code == 202
    sent = Notification.objects.get(payload__contact_method=method_id)
    assert (sent.transport, sent.address, sent.purpose) == ("sms", "+14155550100", "notice")
    assert sent.user_id == teammate.pk
    verified = client.post(
        f"{METHODS}{method_id}/verify/", {"code": _code_sent(method_id)}, format="json"
    )
    assert verified.status_code == 200 and verified.json()["verified"] is True

    assert client.post(f"{METHODS}{method_id}/test/").status_code == 202
    test_page = Notification.objects.filter(payload__kind="contact_method.test").get()
    assert test_page.payload["urgency"] == "high"
    rules = client.get(RULES).json()["results"]
    assert [(r["urgency"], r["contact_method"], r["delay_minutes"]) for r in rules] == [
        ("high", method_id, 0)
    ]


def test_a_second_message_within_seconds_is_a_429(api_as, teammate):
    client = api_as(teammate)
    method_id = client.post(METHODS, {"kind": "push"}, format="json").json()["id"]
    assert client.post(f"{METHODS}{method_id}/send-code/").status_code == 202
    again = client.post(f"{METHODS}{method_id}/send-code/")
    assert again.status_code == 429 and int(again["Retry-After"]) >= 1
    assert "moments ago" in again.json()["detail"]
    assert Notification.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"kind": "sms", "address": "555-0100"}, "address", "international format"),
        ({"kind": "voice", "address": "+1 415 555"}, "address", "not a valid phone number"),
        ({"kind": "fax", "address": "+14155550100"}, "kind", "not a valid choice"),
        ({"kind": "teams", "address": "http://example.com"}, "address", "https://"),
    ],
)
def test_bad_methods_are_400s_that_say_why(api_as, teammate, body, field, says):
    answer = api_as(teammate).post(METHODS, body, format="json")
    assert answer.status_code == 400
    assert says in str(answer.json()[field])


def test_guessing_codes_runs_out_and_says_so(api_as, teammate):
    client = api_as(teammate)
    method_id = client.post(
        METHODS, {"kind": "sms", "address": "+14155550100"}, format="json"
    ).json()["id"]
    client.post(f"{METHODS}{method_id}/send-code/")
    right = _code_sent(method_id)
    wrong = "999999" if right != "999999" else "000000"
    answers = [
        client.post(f"{METHODS}{method_id}/verify/", {"code": wrong}, format="json")
        for _ in range(5)
    ]
    assert {a.status_code for a in answers} == {400}
    assert "4 tries left" in str(answers[0].json()["code"])
    assert "last try" in str(answers[-1].json()["code"])
    late = client.post(f"{METHODS}{method_id}/verify/", {"code": right}, format="json")
    assert late.status_code == 400 and "send a new one" in str(late.json()["code"])
    assert not ContactMethod.objects.get(pk=method_id).is_verified


def test_rules_take_only_ones_own_verified_methods_and_bounded_delays(api_as, teammate, outsider):
    mine = _add_and_verify(api_as(teammate), kind="sms", address="+14155550100")
    theirs = _add_and_verify(api_as(outsider), kind="sms", address="+14155550101")
    client = api_as(teammate)
    ok = client.post(
        RULES, {"urgency": "high", "contact_method": mine["id"], "delay_minutes": 2}, format="json"
    )
    assert ok.status_code == 201 and ok.json()["position"] == 1
    other = client.post(RULES, {"urgency": "high", "contact_method": theirs["id"]}, format="json")
    assert other.status_code == 400
    assert f"No contact method {theirs['id']} of yours" in str(other.json()["contact_method"])
    late = client.post(
        RULES,
        {"urgency": "low", "contact_method": mine["id"], "delay_minutes": 1441},
        format="json",
    )
    assert late.status_code == 400 and "delay_minutes" in late.json()
    twice = client.post(
        RULES, {"urgency": "high", "contact_method": mine["id"], "delay_minutes": 2}, format="json"
    )
    assert twice.status_code == 400 and "already have this rule" in str(twice.json())
    unverified = client.post(
        METHODS, {"kind": "voice", "address": "+14155550100"}, format="json"
    ).json()
    waiting = client.post(
        RULES, {"urgency": "high", "contact_method": unverified["id"]}, format="json"
    )
    assert waiting.status_code == 400 and "Verify this contact method" in str(waiting.json())
    moved = client.patch(f"{RULES}{ok.json()['id']}/", {"delay_minutes": 5}, format="json")
    assert moved.status_code == 200 and moved.json()["delay_minutes"] == 5


@pytest.mark.parametrize("persona", ["owner", "outsider", "admin"])
def test_nobody_else_reads_or_changes_a_persons_methods_and_rules(
    api_as, teammate, persona, request
):
    method = services.contact_method_create(teammate, kind="email", address="tom@example.com")
    code = services.contact_method_verification_start(method, now=method.created_at)
    services.contact_method_verify(method, code=code, now=method.created_at)
    rule = NotificationRule.objects.get(user=teammate, urgency="high")
    other = api_as(request.getfixturevalue(persona))
    assert other.get(METHODS).json()["results"] == []
    assert other.get(RULES).json()["results"] == []
    for path in (f"{METHODS}{method.pk}/", f"{RULES}{rule.pk}/"):
        assert other.get(path).status_code == 404
        assert (
            other.patch(path, {"label": "x", "delay_minutes": 3}, format="json").status_code == 404
        )
        assert other.delete(path).status_code == 404
    for verb in ("send-code", "test", "verify"):
        assert (
            other.post(f"{METHODS}{method.pk}/{verb}/", {"code": "1"}, format="json").status_code
            == 404
        )
    assert ContactMethod.objects.filter(pk=method.pk, label="").exists()
    assert NotificationRule.objects.filter(pk=rule.pk, delay_minutes=0).exists()


def test_signed_out_is_refused(api_as):
    assert api_as().get(METHODS).status_code in (401, 403)
    assert api_as().post(RULES, {}, format="json").status_code in (401, 403)


def test_removing_a_method_removes_its_rules(api_as, teammate):
    client = api_as(teammate)
    method = _add_and_verify(client, kind="slack_dm", address="U024BE7LH")
    assert client.get(RULES).json()["count"] == 2  # Slack does not wake: low urgency too
    assert client.delete(f"{METHODS}{method['id']}/").status_code == 204
    assert client.get(RULES).json()["count"] == 0


@pytest.mark.parametrize(
    ("kind", "transport"),
    [
        ("email", "email"),
        ("sms", "sms"),
        ("voice", "voice"),
        ("push", "push"),
        ("slack_dm", "slack"),
        ("teams", "teams"),
        ("webhook", "webhook"),
    ],
)
def test_each_kind_is_sent_by_its_transport_to_its_address(teammate, kind, transport):
    method = ContactMethod(pk=7, user=teammate, kind=kind, address="U024BE7LH")
    recipient = recipient_for(method)
    assert (recipient.transport, recipient.address, recipient.user_id) == (
        transport,
        "U024BE7LH",
        teammate.pk,
    )
