"""Slack test helpers: the local Slack Web API test server, and requests signed as Slack does.

Payloads follow Slack's documented shapes (block_actions interaction payloads sent as
``payload=<json>`` form data; slash commands as form fields) and are signed with
``v0=HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest

from batchwatch.alerts.models import Incident
from batchwatch.notify.models import Channel
from batchwatch.slack.services import user_link_set
from tests.alerts.conftest import T0, firing, receive, run_until
from tests.slack.slack_server import TOKEN, FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0LENDER01"


@pytest.fixture
def slack(settings):
    server = FakeSlack()
    settings.SLACK_BOT_TOKEN = TOKEN
    settings.SLACK_SIGNING_SECRET = SECRET
    settings.SLACK_API_URL = server.url + "/api/"
    settings.SLACK_RESPONSE_URL_PREFIXES = [server.url + "/hooks/"]
    settings.SLACK_UPDATE_COALESCE_SECONDS = 2
    yield server
    server.close()


LABELS = {
    "alertname": "BatchJobFailed",
    "job": "airflow/ledger/nightly",
    "team": "ledger",
    "severity": "critical",
}


@pytest.fixture
def slack_channel(route_tree, team_a):
    """A Slack channel as the root route's receiver (where incident messages go)."""
    channel = Channel.objects.create(
        name="ledger Slack", kind=Channel.Kind.SLACK, address="C0LEDGER01", team=team_a
    )
    route_tree.channels.add(channel)
    return channel


def _open_incident() -> Incident:
    receive([firing(LABELS)], T0)
    run_until(T0 + timedelta(seconds=30), T0)  # past group_wait: notified and paging
    return Incident.objects.get()


@pytest.fixture
def incident(slack, linked, route_tree):
    """An incident of team A, triggered, its first step paging alice (no Slack receiver)."""
    return _open_incident()


@pytest.fixture
def incident_in_slack(slack, linked, slack_channel):
    """The same incident, with its message queued for the Slack channel."""
    return _open_incident()


@pytest.fixture
def linked(people, make_user, team_b):
    """alice, bob, carol (team A) linked; mallory (team B only) linked; eve not linked."""
    from batchwatch.catalog import services
    from batchwatch.catalog.models import Membership

    for name in ("alice", "bob", "carol"):
        user_link_set(user=people[name], slack_user_id=IDS[name], timezone="America/New_York")
    mallory = make_user("mallory", email="mallory@example.com")
    services.membership_set(team=team_b, user=mallory, role=Membership.Role.MEMBER)
    user_link_set(user=mallory, slack_user_id=IDS["mallory"])
    return {**people, "mallory": mallory}


IDS = {
    "alice": "U0ALICE01",
    "bob": "U0BOB0001",
    "carol": "U0CAROL01",
    "mallory": "U0MALLORY",
    "eve": "U0EVE0001",  # never linked
}


def slack_id(name: str) -> str:
    return IDS[name]


def sign(body: str, *, timestamp: int | None = None, secret: str = SECRET) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(timestamp), "HTTP_X_SLACK_SIGNATURE": signature}


def block_actions_payload(
    server: FakeSlack, *, user: str, action: dict, channel="C0LEDGER01", message_ts="1.000001"
) -> dict:
    """A block_actions payload as Slack documents it (trimmed of fields we do not read)."""
    action = {"block_id": "incident:0", "action_ts": f"{time.time():.6f}", **action}
    return {
        "type": "block_actions",
        "team": {"id": TEAM, "domain": "lender"},
        "user": {"id": slack_id(user), "username": user, "name": user, "team_id": TEAM},
        "api_app_id": "A0BATCHW01",
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        "channel": {"id": channel, "name": "ledger-oncall"},
        "message": {"type": "message", "ts": message_ts, "text": "incident"},
        "response_url": f"{server.url}/hooks/actions/{TEAM}/1/abc",
        "actions": [action],
    }


def post_interaction(client, payload, **signing):
    body = urlencode({"payload": json.dumps(payload)})
    return client.post(
        "/slack/interactions/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        **sign(body, **signing),
    )


def post_command(client, server: FakeSlack, *, user: str, text: str, **signing):
    body = urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": TEAM,
            "team_domain": "lender",
            "channel_id": "C0LEDGER01",
            "channel_name": "ledger-oncall",
            "user_id": slack_id(user),
            "user_name": user,
            "command": "/batchwatch",
            "text": text,
            "api_app_id": "A0BATCHW01",
            "response_url": f"{server.url}/hooks/commands/{TEAM}/1/xyz",
            "trigger_id": "13345224609.738474920.8088930838d88f008e0",
        }
    )
    return client.post(
        "/slack/commands/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        **sign(body, **signing),
    )
