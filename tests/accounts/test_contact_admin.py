"""Admin: staff read people's contact methods and rules and remove them (audited); nobody adds
or edits them there, and the code's hash is never shown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from batchwatch.accounts import services
from batchwatch.accounts.models import ContactMethod, NotificationRule
from batchwatch.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def method(teammate):
    method = services.contact_method_create(teammate, kind="sms", address="+14155550100")
    now = datetime.now(UTC)
    code = services.contact_method_verification_start(method, now=now)
    return services.contact_method_verify(method, code=code, now=now)


def test_staff_list_and_open_methods_and_rules_without_the_codes_hash(client, admin, method):
    client.force_login(admin)
    listing = client.get("/admin/accounts/contactmethod/")
    assert listing.status_code == 200 and "+14155550100" in listing.content.decode()
    page = client.get(f"/admin/accounts/contactmethod/{method.pk}/change/").content.decode()
    assert "code_hash" not in page and "tom" in page
    assert client.get("/admin/accounts/notificationrule/").status_code == 200
    assert client.get("/admin/accounts/contactmethod/add/").status_code == 403


def test_removing_in_admin_is_audited(client, admin, method):
    client.force_login(admin)
    answer = client.post(f"/admin/accounts/contactmethod/{method.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    assert not ContactMethod.objects.exists() and not NotificationRule.objects.exists()
    event = AuditEvent.objects.filter(action=AuditEvent.Action.CONTACT_METHOD_CHANGED).latest("id")
    assert event.detail["change"] == "deleted" and event.actor == admin
