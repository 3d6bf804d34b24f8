"""Links to Batchwatch in Slack: the incident page and the runbook resolver, under
BATCHWATCH_BASE_URL."""

from __future__ import annotations

from datetime import timedelta

from batchwatch.notify.models import Notification
from batchwatch.slack.blocks import links
from batchwatch.slack.delivery import send_slack
from batchwatch.slack.selectors import incident_card
from tests.alerts.conftest import T0
from tests.slack.conftest import post_command

BASE = "https://batchwatch.example.com/bw"


def test_the_incidents_command_links_each_incident(client, slack, incident, settings):
    settings.BATCHWATCH_BASE_URL = BASE
    answer = post_command(client, slack, user="alice", text="incidents ledger").json()["text"]
    assert f"<{BASE}/incidents/{incident.pk}/|#{incident.pk}>" in answer


def test_a_plain_message_about_an_incident_links_it(slack, incident, settings):
    settings.BATCHWATCH_BASE_URL = BASE
    notice = Notification.objects.create(
        purpose=Notification.Purpose.NOTICE,
        transport=Notification.Transport.SLACK,
        address="C0LEDGER01",
        incident=incident,
        subject="Ledger is late",
        idempotency_key="notice-1",
        next_attempt_at=T0,
        created_at=T0,
    )
    send_slack(notice)
    (message,) = slack.top_level()
    assert message.text.endswith(f"\n<{BASE}/incidents/{incident.pk}/|Open incident>")


def test_the_runbook_button_falls_back_to_the_resolver(incident, settings):
    settings.BATCHWATCH_BASE_URL = BASE
    card = incident_card(incident.pk, now=T0 + timedelta(minutes=1))
    card.links.pop("runbook", None)
    assert links(card)["runbook"] == f"{BASE}/runbooks/for/?incident={incident.pk}"
