"""The demo inbox: the demo's notifications kept instead of sent, and the page showing them."""

import io
from datetime import UTC, datetime

import pytest
from django.core import mail
from django.utils import timezone

from batchwatch.core import periodic
from batchwatch.demo import inbox, live
from batchwatch.demo.models import DemoInstallation, InboxMessage
from batchwatch.notify import transports
from batchwatch.notify.models import Notification


def _notification(transport: str, address: str, **fields) -> Notification:
    now = timezone.now()
    return Notification.objects.create(
        purpose=fields.pop("purpose", Notification.Purpose.PAGE),
        transport=transport,
        address=address,
        subject=fields.pop("subject", "[HIGH] #1 payments failed"),
        body="Escalation step 1",
        idempotency_key=f"k-{transport}-{address}",
        next_attempt_at=now,
        created_at=now,
        **fields,
    )


@pytest.fixture
def demo_db(db):
    return DemoInstallation.objects.create(loaded_at=datetime.now(UTC))


def test_email_webhook_and_log_land_in_the_inbox_while_serving_the_demo(demo_db, settings):
    settings.BATCHWATCH_OUTBOUND_ALLOW = []
    sent = [
        _notification("email", "alice@example.com"),
        _notification("webhook", "https://hooks.demo.invalid/ledger", payload={"incident": 1}),
        _notification("log", "#ledger-oncall", purpose=Notification.Purpose.GROUP),
    ]
    with inbox.capture():
        for notification in sent:
            transports.send(notification)
        transports.send(sent[0])  # delivered again (a retry): kept once
    assert mail.outbox == []
    kept = {m.transport: m for m in InboxMessage.objects.all()}
    assert set(kept) == {"email", "webhook", "log"}
    assert InboxMessage.objects.count() == 3
    assert kept["webhook"].payload == {"incident": 1}
    assert kept["email"].address == "alice@example.com" and kept["email"].body


def test_without_the_demo_or_outside_a_demo_process_mail_is_sent(db):
    with inbox.capture():  # a demo process, but this database holds no demo
        transports.send(_notification("email", "alice@example.com"))
    assert len(mail.outbox) == 1
    DemoInstallation.objects.create(loaded_at=datetime.now(UTC))
    transports.send(_notification("email", "bob@example.com"))  # not capturing: sent
    assert len(mail.outbox) == 2
    assert not InboxMessage.objects.exists()


def test_inbox_page_for_the_signed_in(client, demo_db, teammate, outsider):
    with inbox.capture():
        transports.send(_notification("email", teammate.email or "tom@example.com"))
        transports.send(_notification("email", "someone@example.com", subject="other"))
    client.force_login(outsider)
    page = client.get("/demo/inbox/").content.decode()
    assert "Demo inbox" in page and "payments failed" in page and "other" in page
    client.force_login(teammate)
    teammate.email = "tom@example.com"
    teammate.save(update_fields=["email"])
    mine = client.get("/demo/inbox/", {"to": "me"}).content.decode()
    assert "payments failed" in mine and "<summary>other</summary>" not in mine


def test_inbox_page_needs_a_login_and_the_demo(client, db, teammate):
    response = client.get("/demo/inbox/")
    assert response.status_code == 302 and response.url.startswith("/login/")
    client.force_login(teammate)
    assert client.get("/demo/inbox/").status_code == 404  # no demo loaded


def test_the_navigation_links_the_inbox_only_when_serving_the_demo(client, demo_db, teammate):
    client.force_login(teammate)
    assert b"Demo inbox" not in client.get("/").content
    with inbox.capture():
        assert b'href="/demo/inbox/"' in client.get("/").content


def test_serving_a_demo_database_turns_the_inbox_and_the_demo_runs_on(db):
    out = io.StringIO()
    inbox.on_startup(datetime.now(UTC), out, out)  # no demo: nothing
    assert not inbox.is_active() and out.getvalue() == ""
    DemoInstallation.objects.create(loaded_at=datetime.now(UTC))
    try:
        inbox.on_startup(datetime.now(UTC), out, out)
        assert inbox.is_active() and "/demo/inbox/" in out.getvalue()
        assert periodic.get_task(live.TASK).func is live.demo_runs_tick
    finally:
        inbox.deactivate()
        periodic.unregister(live.TASK)


@pytest.mark.parametrize("persona", ["admin", "owner", "teammate", "outsider"])
def test_inbox_api_for_every_signed_in_persona(request, api_as, demo_db, persona):
    """The demo's people are fictional and its inbox is everyone's: staff, a team's owner and
    member, and a member of another team all read it."""
    user = request.getfixturevalue(persona)
    with inbox.capture():
        transports.send(_notification("email", "alice@example.com"))
    response = api_as(user).get("/api/v1/demo/inbox/")
    assert response.status_code == 200
    [message] = response.json()
    assert message["transport"] == "email" and message["address"] == "alice@example.com"
    assert api_as(user).get("/api/v1/demo/inbox/", {"to": "me"}).json() == []


def test_inbox_api_needs_a_login_and_the_demo(api_as, db, teammate):
    assert api_as().get("/api/v1/demo/inbox/").status_code in (401, 403)
    assert api_as(teammate).get("/api/v1/demo/inbox/").status_code == 404
    assert "/api/v1/demo/inbox/" in api_as(teammate).get("/api/schema/?format=json").json()["paths"]
