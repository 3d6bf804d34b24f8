"""/account/notifications/: one's own contact methods, rules and quiet hours on a page. Bad
input is a 400 page that says why; another person's method is "no such method"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest

from batchwatch.accounts import services
from batchwatch.accounts.models import ContactMethod, NotificationRule, Profile
from batchwatch.notify.models import Notification

pytestmark = pytest.mark.django_db
PAGE = "/account/notifications/"


def _post(client, **data):
    return client.post(PAGE, data, follow=False)


def _text(response) -> str:
    return response.content.decode()


def test_a_person_adds_verifies_and_tests_a_phone_on_the_page(client, teammate):
    client.force_login(teammate)
    page = client.get(PAGE)
    assert page.status_code == 200 and "No contact methods yet" in _text(page)
    assert "high-urgency" in _text(page)  # the warning: nothing wakes them yet

    assert _post(client, action="add", kind="sms", address="+1 415 555 0100").status_code == 302
    method = ContactMethod.objects.get(user=teammate)
    assert method.address == "+14155550100"
    assert _post(client, action="send_code", method=method.pk).status_code == 302
    code = re.search(r"\d{6}", Notification.objects.get().subject).group(0)
    assert _post(client, action="verify", method=method.pk, code=code).status_code == 302
    method.refresh_from_db()
    assert method.verified_at is not None
    assert _post(client, action="test", method=method.pk).status_code == 302
    assert Notification.objects.filter(payload__kind="contact_method.test").exists()

    assert (
        _post(
            client, action="add_rule", urgency="high", method=method.pk, delay_minutes="5"
        ).status_code
        == 302
    )
    page = _text(client.get(PAGE))
    assert "+14155550100" in page and "verified" in page and "+5 min" in page
    assert "Send me a test page" in page
    assert "style=" not in page and "<script>" not in page  # CSP: nothing inline


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"action": "add", "kind": "sms", "address": "07700 900123"}, "international format"),
        ({"action": "add", "kind": "voice", "address": "+1 415"}, "not a valid phone number"),
        ({"action": "add", "kind": "fax", "address": "x"}, "not a valid choice"),
        ({"action": "verify", "method": "999", "code": "1"}, "No such contact method"),
        ({"action": "quiet_hours", "quiet_start": "22:00"}, "both a start and an end"),
        ({"action": "quiet_hours", "quiet_start": "25:00", "quiet_end": "07:00"}, "not a time"),
        (
            {"action": "add_rule", "urgency": "high", "method": "1", "delay_minutes": "-3"},
            "0 to 1440",
        ),
        ({"action": "nonsense"}, "Unknown action"),
    ],
)
def test_bad_input_is_a_400_page_that_says_why(client, teammate, data, says):
    client.force_login(teammate)
    answer = _post(client, **data)
    assert answer.status_code == 400
    assert says in _text(answer).replace("&#x27;", "'")


def test_a_wrong_code_and_an_expired_one_say_so(client, teammate):
    client.force_login(teammate)
    method = services.contact_method_create(teammate, kind="sms", address="+14155550100")
    now = datetime.now(UTC)
    code = services.contact_method_verification_start(method, now=now)
    wrong = "000000" if code != "000000" else "111111"
    answer = _post(client, action="verify", method=method.pk, code=wrong)
    assert answer.status_code == 400 and "tries left" in _text(answer)
    ContactMethod.objects.filter(pk=method.pk).update(code_expires_at=now - timedelta(seconds=1))
    answer = _post(client, action="verify", method=method.pk, code=code)
    assert answer.status_code == 400 and "expired" in _text(answer)


def test_asking_for_codes_in_a_loop_is_a_429(client, teammate):
    client.force_login(teammate)
    method = services.contact_method_create(teammate, kind="push")
    assert _post(client, action="send_code", method=method.pk).status_code == 302
    again = _post(client, action="send_code", method=method.pk)
    assert again.status_code == 429 and "moments ago" in _text(again)


def test_another_persons_method_and_rule_are_out_of_reach(client, teammate, outsider):
    method = services.contact_method_create(teammate, kind="email", address="tom@example.com")
    code = services.contact_method_verification_start(method, now=datetime.now(UTC))
    services.contact_method_verify(method, code=code, now=datetime.now(UTC))
    rule = NotificationRule.objects.filter(user=teammate).first()
    client.force_login(outsider)
    assert "tom@example.com" not in _text(client.get(PAGE))
    for action in ("send_code", "test", "remove", "verify"):
        answer = _post(client, action=action, method=method.pk, code="1")
        assert answer.status_code == 400 and "No such contact method of yours" in _text(answer)
    assert _post(client, action="remove_rule", rule=rule.pk).status_code == 400
    assert ContactMethod.objects.filter(pk=method.pk).exists()
    assert NotificationRule.objects.filter(pk=rule.pk).exists()
    assert not Notification.objects.exists()


def test_quiet_hours_are_set_and_cleared(client, teammate):
    client.force_login(teammate)
    assert (
        _post(client, action="quiet_hours", quiet_start="22:00", quiet_end="07:00").status_code
        == 302
    )
    profile = Profile.objects.get(user=teammate)
    assert (profile.quiet_start, profile.quiet_end) == (time(22), time(7))
    assert profile.is_quiet_at(datetime(2026, 1, 1, 23, 30, tzinfo=UTC))
    assert profile.is_quiet_at(datetime(2026, 1, 1, 6, 59, tzinfo=UTC))
    assert not profile.is_quiet_at(datetime(2026, 1, 1, 7, 0, tzinfo=UTC))
    assert 'value="22:00"' in _text(client.get(PAGE))
    assert _post(client, action="quiet_hours", clear="1").status_code == 302
    profile.refresh_from_db()
    assert profile.quiet_start is None


def test_quiet_hours_follow_the_profiles_zone():
    profile = Profile(time_zone="America/New_York", quiet_start=time(22), quiet_end=time(7))
    assert profile.is_quiet_at(datetime(2026, 1, 16, 4, 0, tzinfo=UTC))  # 23:00 in New York
    assert not profile.is_quiet_at(datetime(2026, 1, 16, 14, 0, tzinfo=UTC))  # 09:00 there
    daytime = Profile(quiet_start=time(12), quiet_end=time(13))
    assert daytime.is_quiet_at(datetime(2026, 1, 16, 12, 30, tzinfo=UTC))
    assert not daytime.is_quiet_at(datetime(2026, 1, 16, 13, 0, tzinfo=UTC))


def test_signed_out_people_are_sent_to_sign_in(client):
    assert client.get(PAGE).status_code == 302
