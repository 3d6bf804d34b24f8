"""Output escaped for where it goes: sender URLs become links only when http(s), on pages and
in Slack; Slack text escaped per Slack's rules; link buttons only to hosts Batchwatch trusts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from batchwatch.alerts.models import Alert, Incident, Integration
from batchwatch.alerts.services import integration_create
from batchwatch.core.links import safe_url, slack_escape, trusted_url
from batchwatch.notify.models import Notification
from batchwatch.notify.services import deliver
from batchwatch.slack import blocks
from batchwatch.slack.selectors import incident_card
from tests.alerts.conftest import T0, firing, receive, run_until
from tests.alerts.test_intake import pd_event, post
from tests.slack import conftest as slack_fixtures

slack = slack_fixtures.slack
slack_channel = slack_fixtures.slack_channel
linked = slack_fixtures.linked

HOSTILE_URLS = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "slack://open",
    "//evil.example/x",
    "https:/\\evil.example",
    "http://[::1",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_only_http_and_https_urls_are_links(url):
    assert safe_url(url) is None
    assert trusted_url(url) is None


@pytest.mark.parametrize("url", ["http://prometheus:9090/graph?g0.expr=up", "HTTPS://x.io/a"])
def test_http_urls_are_links(url):
    assert safe_url(url) == url


def test_link_buttons_only_to_our_hosts(settings):
    settings.BATCHWATCH_BASE_URL = "https://batchwatch.example.com"
    settings.GRAFANA_URL = "https://grafana.example.com"
    settings.BATCHWATCH_LINK_HOSTS = ["wiki.example.com"]
    assert trusted_url("https://batchwatch.example.com/jobs/1/")
    assert trusted_url("https://grafana.example.com/d/x")
    assert trusted_url("https://WIKI.example.com/runbook")
    assert trusted_url("https://evil.example/runbook") is None
    assert trusted_url("https://wiki.example.com.evil.example/") is None
    assert trusted_url("javascript://wiki.example.com/%0aalert(1)") is None


def test_slack_escape_follows_slacks_rules():
    assert slack_escape("<!channel> & <https://evil|Runbook>") == (
        "&lt;!channel&gt; &amp; &lt;https://evil|Runbook&gt;"
    )


# --- Pages ----------------------------------------------------------------------------------


def _incident_page(admin) -> bytes:
    client = Client()
    client.force_login(admin)
    response = client.get(f"/incidents/{Incident.objects.get().pk}/")
    assert response.status_code == 200
    return response.content


def _alertmanager(team, url):
    _, token = integration_create(name="prom", kind=Integration.Kind.ALERTMANAGER, team=team)
    body = {
        "version": "4",
        "status": "firing",
        "receiver": "batchwatch",
        "groupKey": '{}:{alertname="Late"}',
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Late", "job": "ledger"},
                "annotations": {"summary": "<b>late</b>"},
                "startsAt": "2026-11-22T03:00:00Z",
                "generatorURL": url,
            }
        ],
    }
    return post("/api/v1/integrations/alertmanager/", body, token)


def _pagerduty(team, url):
    _, token = integration_create(name="pd", kind=Integration.Kind.PAGERDUTY)
    return post("/v2/enqueue", pd_event(token, "trigger", client_url=url))


def _webhook(team, url):
    _, token = integration_create(name="hook", kind=Integration.Kind.WEBHOOK)
    body = {"alerts": [{"labels": {"alertname": "Lag"}, "summary": "lag", "url": url}]}
    return post("/api/v1/integrations/webhook/", body, token)


@pytest.mark.parametrize("send", [_alertmanager, _pagerduty, _webhook])
def test_a_javascript_source_url_is_not_a_link_on_the_incident_page(send, admin, team_a):
    response = send(team_a, "javascript:alert(1)")
    assert response.status_code in (200, 202), response.content
    assert Alert.objects.get().generator_url == "javascript:alert(1)"  # kept, as text
    page = _incident_page(admin)
    assert b'href="javascript:' not in page.lower()
    assert b"source: javascript:alert(1)" in page  # shown, escaped, not a link
    assert b"<b>late</b>" not in page


def test_an_http_source_url_is_still_a_link(admin, team_a):
    _alertmanager(team_a, "http://prometheus:9090/graph?g0.expr=up&g0.tab=1")
    page = _incident_page(admin)
    assert b'href="http://prometheus:9090/graph?g0.expr=up&amp;g0.tab=1"' in page


def test_job_links_are_only_http(admin, ledger_job):
    ledger_job.repo_url = "javascript:alert(1)"
    ledger_job.docs_url = "https://docs.example.com/ledger"
    ledger_job.save()
    client = Client()
    client.force_login(admin)
    page = client.get(f"/jobs/{ledger_job.pk}/").content
    assert b"javascript:" not in page
    assert b'href="https://docs.example.com/ledger"' in page


# --- Slack ----------------------------------------------------------------------------------

HOSTILE = {
    "summary": "<!channel> disk full & <https://evil.example|Runbook>",
    "runbook_url": "https://evil.example/runbook",
    "dashboard_url": "javascript:alert(1)",
    "run_url": "slack://open?team=T1",
    "trace_url": "https://wiki.example.com/trace/1",
}


def _texts(node) -> list[str]:
    """Every text Slack parses as mrkdwn in a message (plain_text is never parsed)."""
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    if not isinstance(node, dict):
        return []
    found = []
    if node.get("type") == "mrkdwn":
        found.append(node["text"])
    for value in node.values():
        found += _texts(value)
    return found


def _buttons(rendered) -> dict[str, str]:
    return {
        e["action_id"]: e["url"]
        for b in rendered
        if b["type"] == "actions"
        for e in b["elements"]
        if "url" in e
    }


@pytest.fixture
def hostile_incident(db, route_tree, settings):
    settings.BATCHWATCH_BASE_URL = "https://batchwatch.example.com"
    settings.BATCHWATCH_LINK_HOSTS = ["wiki.example.com"]
    labels = {"alertname": "DiskFull", "job": "ledger", "team": "ledger", "severity": "critical"}
    receive([firing(labels, summary=HOSTILE["summary"], annotations=HOSTILE)], T0)
    return Incident.objects.get()


def test_slack_message_escapes_sender_text_and_drops_foreign_links(hostile_incident):
    card = incident_card(hostile_incident.pk, now=T0 + timedelta(seconds=1))
    rendered = blocks.incident_blocks(card)
    fallback = blocks.fallback_text(card)
    for text in [fallback, *_texts(rendered)]:
        assert "<!channel>" not in text and "<https://evil" not in text, text
    assert "&lt;!channel&gt; disk full &amp; &lt;https://evil.example|Runbook&gt;" in fallback
    urls = _buttons(rendered)
    base = "https://batchwatch.example.com"
    assert urls == {
        "link.runbook": f"{base}/runbooks/for/?incident={hostile_incident.pk}",  # ours
        "link.run": "https://wiki.example.com/trace/1",  # allow-listed host
        "link.dashboard": f"{base}/incidents/{hostile_incident.pk}/",  # ours instead
        "link.job": f"{base}/incidents/{hostile_incident.pk}/",
    }


def test_a_plain_slack_post_escapes_subject_and_body(slack, hostile_incident):
    from batchwatch.notify.models import Channel

    channel = Channel.objects.create(name="s", kind=Channel.Kind.SLACK, address="C0LEDGER01")
    row = Notification.objects.create(
        purpose="notice",
        transport="slack",
        address="C0LEDGER01",
        channel=channel,
        incident=hostile_incident,
        subject=f"[notice] {HOSTILE['summary']}",
        body="<@U0ALICE01> look",
        idempotency_key="notice:hostile",
        next_attempt_at=T0,
        created_at=T0,
    )
    assert deliver(row.pk, now=T0) == "delivered"
    [message] = slack.top_level()
    assert message.text == (
        "[notice] &lt;!channel&gt; disk full &amp; &lt;https://evil.example|Runbook&gt;\n"
        "&lt;@U0ALICE01&gt; look\n"
        f"<https://batchwatch.example.com/incidents/{hostile_incident.pk}/|Open incident>"
    )


def test_the_group_message_in_slack_has_no_mention_from_the_sender(slack, slack_channel, db):
    receive(
        [firing({"alertname": "X", "team": "ledger"}, summary="<!here> <!channel>")],
        T0,
    )
    run_until(T0 + timedelta(seconds=30), T0)
    from batchwatch.notify.services import deliver_due

    deliver_due(now=T0 + timedelta(seconds=31))
    messages = slack.top_level()
    assert len(messages) == 1
    message = messages[0]
    for text in [message.text, *_texts(message.blocks)]:
        assert "<!here>" not in text and "<!channel>" not in text, text


def test_slash_command_answers_escape_incident_titles(slack, hostile_incident, linked, client):
    from tests.slack.conftest import post_command

    response = post_command(client, slack, user="alice", text="incidents")
    assert response.status_code == 200
    text = response.json()["text"]
    assert "&lt;!channel&gt; disk full" in text and "<!channel>" not in text
