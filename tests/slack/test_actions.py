"""Every button and select of the incident message, clicked as Slack sends it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from batchwatch.alerts.models import Alert, TimelineEntry
from batchwatch.slack import blocks
from tests.slack.conftest import block_actions_payload, post_interaction
from tests.slack.test_refusals import _ephemeral


def click(client, slack, incident, action_id, user="alice", **fields):
    action = {"action_id": action_id, "block_id": f"incident:{incident.pk}", **fields}
    assert (
        post_interaction(client, block_actions_payload(slack, user=user, action=action)).status_code
        == 200
    )
    incident.refresh_from_db()
    return incident


def test_snooze_until_nine_tomorrow(client, slack, incident):
    option = {
        "text": {"type": "plain_text", "text": "Until 09:00"},
        "value": f"{incident.pk}:tomorrow-0900",
    }
    click(client, slack, incident, blocks.SNOOZE, type="static_select", selected_option=option)
    assert incident.state == "acknowledged"
    local = incident.snoozed_until.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)


def test_reassign_by_user_select(client, slack, incident, linked):
    click(client, slack, incident, blocks.REASSIGN, type="users_select", selected_user="U0BOB0001")
    assert incident.assignee == linked["bob"]
    entry = TimelineEntry.objects.get(incident=incident, kind="reassigned")
    assert entry.actor_label == "alice (Slack)"


def test_reassign_to_an_unlinked_person_is_explained(client, slack, incident):
    before = incident.assignee_id
    click(client, slack, incident, blocks.REASSIGN, type="users_select", selected_user="U0NOBODY1")
    assert incident.assignee_id == before
    assert "not linked" in _ephemeral(slack)


def test_escalate_and_resolve(client, slack, incident):
    click(client, slack, incident, blocks.ESCALATE, value=str(incident.pk), type="button")
    assert TimelineEntry.objects.filter(incident=incident, kind="escalate_requested").exists()
    click(client, slack, incident, blocks.RESOLVE, value=str(incident.pk), type="button")
    # Its alert still fires: the button does not resolve, and says how to force it.
    assert incident.state == "triggered"
    assert f"`/batchwatch resolve {incident.pk} force`" in _ephemeral(slack)
    slack.calls.clear()
    Alert.objects.update(status="resolved")
    click(client, slack, incident, blocks.RESOLVE, value=str(incident.pk), type="button")
    assert incident.state == "resolved"
    click(client, slack, incident, blocks.ESCALATE, value=str(incident.pk), type="button")
    assert "resolved incident cannot be escalated" in _ephemeral(slack)
