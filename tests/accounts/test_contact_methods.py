"""Contact methods: addresses checked and normalised per kind, verification by a code sent and
entered back (hashed, expiring, five tries), default rules at the first verified method, the
inbound phone lookup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from batchwatch.accounts import services
from batchwatch.accounts.models import (
    CODE_ATTEMPTS,
    CODE_LIFETIME,
    SEND_INTERVAL,
    ContactMethod,
    NotificationRule,
)
from batchwatch.accounts.selectors import contact_method_for_phone
from batchwatch.audit.models import AuditEvent

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
Kind = ContactMethod.Kind
pytestmark = pytest.mark.django_db


def _verified(user, kind=Kind.SMS, address="+1 415 555 0100", now=NOW):
    method = services.contact_method_create(user, kind=kind, address=address, by=user)
    code = services.contact_method_verification_start(method, now=now)
    return services.contact_method_verify(method, code=code, now=now, by=user)


@pytest.mark.parametrize(
    ("kind", "given", "stored"),
    [
        (Kind.SMS, "+1 (415) 555-0100", "+14155550100"),
        (Kind.VOICE, "+49 30 901820", "+4930901820"),
        (Kind.EMAIL, "Tom@Example.COM", "Tom@example.com"),
        (Kind.SLACK_DM, " U024BE7LH ", "U024BE7LH"),
        (Kind.TEAMS, "https://prod-00.westeurope.logic.azure.com/workflows/x", None),
    ],
)
def test_addresses_are_normalised_per_kind(teammate, kind, given, stored):
    method = services.contact_method_create(teammate, kind=kind, address=given)
    assert method.address == (stored or given)
    assert method.verified_at is None


@pytest.mark.parametrize(
    ("kind", "given", "says"),
    [
        (Kind.SMS, "0207 946 0018", "international format with the country code"),
        (Kind.SMS, "+3361234", "not a valid phone number"),
        (Kind.VOICE, "call me", "not a phone number"),
        (Kind.EMAIL, "tom at example", "valid email"),
        (Kind.SLACK_DM, "@tom", "Slack member ID"),
        (Kind.PUSH, "alerts", "16 to 64"),
        (Kind.WEBHOOK, "http://example.com/hook", "https://"),
        (Kind.WEBHOOK, "https://169.254.169.254/latest/", "link-local"),
    ],
)
def test_bad_addresses_are_refused_with_a_sentence(teammate, kind, given, says):
    with pytest.raises(ValidationError) as refused:
        services.contact_method_create(teammate, kind=kind, address=given)
    assert says.lower() in " ".join(refused.value.message_dict["address"]).lower()
    assert not ContactMethod.objects.exists()


def test_a_push_topic_is_generated_unguessable_and_per_method(teammate):
    first = services.contact_method_create(teammate, kind=Kind.PUSH)
    second = services.contact_method_create(teammate, kind=Kind.PUSH, label="tablet")
    assert first.address.startswith("bw-") and len(first.address) == 27
    assert first.address != second.address


def test_the_same_address_twice_is_refused(teammate):
    services.contact_method_create(teammate, kind=Kind.SMS, address="+14155550100")
    with pytest.raises(ValidationError, match="already have this contact method"):
        services.contact_method_create(teammate, kind=Kind.SMS, address="+1 415 555 0100")


def test_a_right_code_verifies_and_writes_default_rules(teammate):
    method = _verified(teammate, kind=Kind.EMAIL, address="tom@example.com")
    assert method.verified_at == NOW and method.code_hash == ""
    rules = {
        (r.urgency, r.contact_method_id, r.delay_minutes) for r in teammate.notification_rules.all()
    }
    assert rules == {("high", method.pk, 0), ("low", method.pk, 0)}
    changes = AuditEvent.objects.filter(action=AuditEvent.Action.CONTACT_METHOD_CHANGED)
    assert [e.detail["change"] for e in changes.order_by("id")] == ["created", "verified"]
    assert "tom@example.com" not in str(list(changes.values_list("detail", flat=True)))


def test_a_phone_takes_only_high_urgency_by_default_and_later_methods_add_none(teammate):
    phone = _verified(teammate)
    _verified(teammate, kind=Kind.PUSH, address="bw-" + "x" * 24)
    assert list(teammate.notification_rules.values_list("urgency", "contact_method")) == [
        ("high", phone.pk)
    ]


def test_the_code_is_stored_hashed_only(teammate):
    method = services.contact_method_create(teammate, kind=Kind.SMS, address="+14155550100")
    code = services.contact_method_verification_start(method, now=NOW)
    method.refresh_from_db()
    assert len(code) == 6 and code.isdigit()
    assert code not in method.code_hash and len(method.code_hash) == 64


def test_wrong_codes_count_down_and_the_last_try_burns_the_code(teammate):
    method = services.contact_method_create(teammate, kind=Kind.SMS, address="+14155550100")
    code = services.contact_method_verification_start(method, now=NOW)
    wrong = "000000" if code != "000000" else "111111"
    for left in range(CODE_ATTEMPTS - 1, 0, -1):
        with pytest.raises(ValidationError, match=f"{left} tries left"):
            services.contact_method_verify(method, code=wrong, now=NOW)
    with pytest.raises(ValidationError, match="last try"):
        services.contact_method_verify(method, code=wrong, now=NOW)
    with pytest.raises(ValidationError, match="send a new one"):
        services.contact_method_verify(method, code=code, now=NOW)  # even the right one
    method.refresh_from_db()
    assert method.verified_at is None


def test_an_expired_code_is_refused(teammate):
    method = services.contact_method_create(teammate, kind=Kind.SMS, address="+14155550100")
    code = services.contact_method_verification_start(method, now=NOW)
    with pytest.raises(ValidationError, match="expired"):
        services.contact_method_verify(method, code=code, now=NOW + CODE_LIFETIME)


def test_a_new_code_replaces_the_old_one_but_not_too_soon(teammate):
    method = services.contact_method_create(teammate, kind=Kind.SMS, address="+14155550100")
    old = services.contact_method_verification_start(method, now=NOW)
    with pytest.raises(services.SendTooSoon) as early:
        services.contact_method_verification_start(method, now=NOW + timedelta(seconds=10))
    assert 1 <= early.value.retry_after <= SEND_INTERVAL.total_seconds()
    new = services.contact_method_verification_start(method, now=NOW + SEND_INTERVAL)
    if new != old:
        with pytest.raises(ValidationError, match="Wrong code"):
            services.contact_method_verify(method, code=old, now=NOW + SEND_INTERVAL)
    services.contact_method_verify(method, code=new, now=NOW + SEND_INTERVAL)


def test_a_new_address_is_unverified_again(teammate):
    method = _verified(teammate)
    same = services.contact_method_update(method, address="+1 415-555-0100", label="work")
    assert same.verified_at is not None and same.label == "work"
    moved = services.contact_method_update(method, address="+14155550101")
    assert moved.verified_at is None
    assert NotificationRule.objects.filter(contact_method=method).exists()  # waits, kept


def test_deleting_a_method_deletes_its_rules(teammate):
    method = _verified(teammate)
    services.contact_method_delete(method, by=teammate)
    assert not NotificationRule.objects.exists()


def test_an_inbound_number_finds_its_verified_owner_only(teammate, outsider):
    assert contact_method_for_phone(number="+14155550100") is None
    services.contact_method_create(teammate, kind=Kind.SMS, address="+14155550100")
    assert contact_method_for_phone(number="+14155550100") is None  # not verified
    method = _verified(teammate, kind=Kind.VOICE)
    found = contact_method_for_phone(number="+1 415 555 0100")
    assert found == method and found.user == teammate
    assert contact_method_for_phone(number="not a number") is None
    _verified(outsider)  # a shared phone: nobody can be told apart
    assert contact_method_for_phone(number="+14155550100") is None
