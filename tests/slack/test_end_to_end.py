"""Alert → incident → Slack message with all buttons → signed Acknowledge click → acknowledged,
escalation stopped, message updated in place, thread entry added. One test, real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from batchwatch.alerts.models import Incident, Timer
from batchwatch.notify.models import Notification
from batchwatch.notify.services import deliver_due
from batchwatch.slack import blocks
from batchwatch.slack.models import SlackMessage
from tests.alerts.conftest import T0, firing, receive, run_until
from tests.slack.conftest import LABELS, block_actions_payload, post_interaction


def _actions(message) -> dict[str, dict]:
    return {
        element["action_id"]: element
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


def test_alert_to_acknowledge_from_slack(client, slack, linked, slack_channel):
    receive([firing(LABELS, summary="ledger nightly failed")], T0)
    run_until(T0 + timedelta(seconds=30), T0)  # group_wait: the incident notifies and pages
    incident = Incident.objects.get()
    assert incident.state == Incident.State.TRIGGERED
    assert Timer.objects.filter(incident=incident, kind="escalate", state="pending").exists()

    deliver_due(now=T0 + timedelta(seconds=31))
    [posted] = slack.top_level("C0LEDGER01")
    assert posted.metadata["event_type"] == "batchwatch_message"
    actions = _actions(posted)
    assert set(actions) == {
        blocks.ACKNOWLEDGE,
        blocks.RESOLVE,
        blocks.SNOOZE,
        blocks.ESCALATE,
        blocks.REASSIGN,
        "link.runbook",
        "link.run",
        "link.dashboard",
        "link.job",
    }
    snoozes = [o["value"] for o in actions[blocks.SNOOZE]["options"]]
    assert snoozes == [f"{incident.pk}:{k}" for k in ("30m", "1h", "4h", "tomorrow-0900")]
    assert all(actions[f"link.{n}"]["url"].startswith("http") for n in ("runbook", "run", "job"))
    text = str(posted.blocks)
    assert "airflow/ledger/nightly" in text and "critical" in text and "Ledger" in text
    assert "<@U0ALICE01>" in text  # on call (and assigned by the first step), as a mention
    message = SlackMessage.objects.get(incident=incident)
    assert (message.slack_channel_id, message.ts) == ("C0LEDGER01", posted.ts)

    click = block_actions_payload(
        slack,
        user="alice",
        action={
            "action_id": blocks.ACKNOWLEDGE,
            "block_id": f"incident:{incident.pk}",
            "value": actions[blocks.ACKNOWLEDGE]["value"],
            "type": "button",
        },
        message_ts=posted.ts,
    )
    response = post_interaction(client, click)
    assert response.status_code == 200

    incident.refresh_from_db()
    assert incident.state == Incident.State.ACKNOWLEDGED
    assert incident.acknowledged_by.username == "alice"
    assert not Timer.objects.filter(incident=incident, kind="escalate", state="pending").exists()
    pages_before = Notification.objects.filter(purpose="page").count()
    run_until(T0 + timedelta(hours=1), T0 + timedelta(seconds=35), step=timedelta(minutes=1))
    assert Notification.objects.filter(purpose="page").count() == pages_before  # stopped

    later = datetime.now(UTC) + timedelta(seconds=5)  # past the coalescing hold
    deliver_due(now=later)
    updates = slack.calls_of("chat.update")
    assert len(updates) == 1 and updates[0].params["ts"] == posted.ts
    assert blocks.ACKNOWLEDGE not in _actions(posted)  # the same message, updated in place
    assert ":large_yellow_circle: Acknowledged by <@U0ALICE01>" in str(posted.blocks)
    [reply] = slack.thread(posted.ts)
    assert "alice (Slack)" in reply.text and "Acknowledged" in reply.text
    assert len(slack.top_level()) == 1  # nothing posted twice


def test_the_message_counts_what_the_incident_inhibits(slack, linked, slack_channel):
    from batchwatch.alerts.models import Alert, InhibitRule
    from batchwatch.slack.selectors import incident_card

    InhibitRule.objects.create(
        name="failure hides lateness",
        source_matchers=['alertname="BatchJobFailed"'],
        target_matchers=['alertname="BatchJobLate"'],
        equal=["job"],
    )
    receive([firing(LABELS)], T0)
    receive([firing({**LABELS, "alertname": "BatchJobLate", "severity": "warning"})], T0)
    late = Alert.objects.get(labels__alertname="BatchJobLate")
    assert late.suppressed_reason == "inhibited by rule 'failure hides lateness'"
    run_until(T0 + timedelta(seconds=30), T0)
    card = incident_card(Incident.objects.get().pk, now=T0 + timedelta(seconds=31))
    assert (card.grouped, card.inhibited) == (1, 1)
    assert "1 grouped, 1 inhibited" in str(blocks.facts(card))
