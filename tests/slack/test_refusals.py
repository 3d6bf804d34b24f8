"""Requests Slack did not sign, or people who may not act: the documented refusal, no state
change, never a 500 (docs/slack.md, "Refusals")."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from batchwatch.alerts.models import Incident, TimelineEntry
from batchwatch.notify.models import Notification
from batchwatch.notify.services import deliver_due
from batchwatch.slack import blocks
from tests.slack.conftest import (
    SECRET,
    block_actions_payload,
    post_command,
    post_interaction,
    sign,
)


def _ack(slack, incident, user="alice", **overrides):
    action = {
        "action_id": blocks.ACKNOWLEDGE,
        "block_id": f"incident:{incident.pk}",
        "value": str(incident.pk),
        "type": "button",
        **overrides,
    }
    return block_actions_payload(slack, user=user, action=action)


def _unchanged(incident) -> None:
    entries = TimelineEntry.objects.filter(incident=incident).count()
    incident.refresh_from_db()
    assert incident.state == Incident.State.TRIGGERED
    assert incident.acknowledged_by is None
    assert TimelineEntry.objects.filter(incident=incident, kind="acknowledged").count() == 0
    assert entries == TimelineEntry.objects.filter(incident=incident).count()


def _ephemeral(slack) -> str:
    deliver_due(now=datetime.now(UTC) + timedelta(seconds=1))
    [call] = [c for c in slack.calls if c.method.startswith("hooks/")]
    assert call.params["response_type"] == "ephemeral"
    assert call.params["replace_original"] is False
    return call.params["text"]


def _raw_post(client, path, body, headers):
    return client.post(path, data=body, content_type="application/x-www-form-urlencoded", **headers)


@pytest.mark.parametrize("path", ["/slack/interactions/", "/slack/commands/"])
def test_forged_signature_is_refused(client, slack, incident, path):
    body = "payload=" + json.dumps(_ack(slack, incident))
    response = _raw_post(client, path, body, sign(body, secret="not-the-secret"))
    assert response.status_code == 401
    assert "Invalid X-Slack-Signature" in response.json()["error"]
    _unchanged(incident)


@pytest.mark.parametrize("path", ["/slack/interactions/", "/slack/commands/"])
def test_stale_timestamp_is_refused_as_a_replay(client, slack, incident, path):
    body = "payload=" + json.dumps(_ack(slack, incident))
    headers = sign(body, timestamp=int(time.time()) - 301)  # correctly signed, 5 min + 1 s old
    response = _raw_post(client, path, body, headers)
    assert response.status_code == 401
    assert "more than 5 minutes old" in response.json()["error"]
    _unchanged(incident)


def test_missing_or_garbled_headers_are_refused(client, slack, incident):
    body = "payload=" + json.dumps(_ack(slack, incident))
    assert _raw_post(client, "/slack/interactions/", body, {}).status_code == 401
    headers = {**sign(body), "HTTP_X_SLACK_REQUEST_TIMESTAMP": "yesterday"}
    response = _raw_post(client, "/slack/interactions/", body, headers)
    assert response.status_code == 401 and "Unix time" in response.json()["error"]
    _unchanged(incident)


def test_a_body_changed_after_signing_is_refused(client, slack, incident):
    body = "payload=" + json.dumps(_ack(slack, incident))
    headers = sign(body)
    tampered = body.replace(str(incident.pk), str(incident.pk + 1))
    assert _raw_post(client, "/slack/interactions/", tampered, headers).status_code == 401


@pytest.mark.parametrize(
    "body, message",
    [
        ("nothing=here", "no 'payload'"),
        ("payload=%7Bnot+json", "not JSON"),
        ("payload=%5B1%2C2%5D", "not an object"),
        ('payload={"type":"block_actions","user":{"id":"U0ALICE01"},"actions":[]}', "no actions"),
        ('payload={"type":"block_actions","actions":[{"action_id":"x"}]}', "no user.id"),
        (
            'payload={"type":"block_actions","user":{"id":"U0ALICE01"},"actions":[{"value":"1"}]}',
            "no action_id",
        ),
        ("payload=%FF%FE", "not UTF-8"),
    ],
)
def test_malformed_payloads_are_400_with_a_message(client, slack, incident, body, message):
    response = _raw_post(client, "/slack/interactions/", body, sign(body))
    assert response.status_code == 400
    assert message in response.json()["error"]
    _unchanged(incident)


def test_malformed_command_is_400(client, slack, incident):
    body = "text=ack+1"
    response = _raw_post(client, "/slack/commands/", body, sign(body))
    assert response.status_code == 400 and "missing command, user_id" in response.json()["error"]


def test_unknown_action_gets_an_ephemeral_answer_and_changes_nothing(client, slack, incident):
    payload = _ack(slack, incident, action_id="incident.delete_everything")
    assert post_interaction(client, payload).status_code == 200
    assert "Unknown action" in _ephemeral(slack)
    _unchanged(incident)


def test_unlinked_user_is_told_how_to_link(client, slack, incident):
    assert post_interaction(client, _ack(slack, incident, user="eve") | {}).status_code == 200
    text = _ephemeral(slack)
    assert "not linked" in text and "slack link-users" in text
    _unchanged(incident)


def test_user_of_another_team_is_refused(client, slack, incident):
    assert post_interaction(client, _ack(slack, incident, user="mallory")).status_code == 200
    text = _ephemeral(slack)
    assert "Only members of the owning team (Ledger)" in text
    _unchanged(incident)


def test_other_interaction_types_are_accepted_and_ignored(client, slack, incident):
    body = "payload=" + json.dumps({"type": "view_closed", "user": {"id": "U0ALICE01"}})
    assert _raw_post(client, "/slack/interactions/", body, sign(body)).status_code == 200
    _unchanged(incident)


def test_link_buttons_are_no_ops(client, slack, incident):
    payload = _ack(slack, incident, action_id="link.runbook")
    assert post_interaction(client, payload).status_code == 200
    _unchanged(incident)
    assert not Notification.objects.filter(purpose="reply").exists()


def test_not_configured_is_503(client, slack, incident, settings):
    settings.SLACK_SIGNING_SECRET = ""
    body = "payload=" + json.dumps(_ack(slack, incident))
    response = _raw_post(client, "/slack/interactions/", body, sign(body, secret=SECRET))
    assert response.status_code == 503 and "SLACK_SIGNING_SECRET" in response.json()["error"]


def test_commands_refuse_unlinked_and_other_teams(client, slack, incident):
    response = post_command(client, slack, user="eve", text=f"ack {incident.pk}")
    assert response.status_code == 200 and "not linked" in response.json()["text"]
    response = post_command(client, slack, user="mallory", text=f"resolve {incident.pk}")
    assert "Only members of the owning team" in response.json()["text"]
    _unchanged(incident)


def test_a_forged_response_url_is_never_called(client, slack, incident):
    payload = _ack(slack, incident, user="eve")
    payload["response_url"] = "http://169.254.169.254/latest/meta-data"
    assert post_interaction(client, payload).status_code == 200
    assert not Notification.objects.filter(purpose="reply").exists()
