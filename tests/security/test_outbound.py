"""SSRF: outgoing webhooks refuse private, loopback and link-local destinations.

Checked when a channel is saved (a sentence naming the address) and when the connection is
made, after DNS resolution, to the address that was checked (DNS rebinding).
"""

from __future__ import annotations

import socket
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from batchwatch.notify import transports
from batchwatch.notify.models import Channel, Notification
from batchwatch.notify.services import Recipient, deliver, notification_enqueue

T0 = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def dns(monkeypatch):
    """Fake DNS answers for chosen names; everything else resolves for real."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host in answers:
            lookups.append(host)
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return _real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    answers["lookups"] = lookups  # type: ignore[assignment]
    return answers


@pytest.fixture
def production(settings):
    settings.PRODUCTION = True
    settings.BATCHWATCH_OUTBOUND_ALLOW = []
    return settings


class Receiver:
    def __init__(self):
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.hosts.append(self.headers.get("Host"))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


def _enqueue(channel, key="k1"):
    with transaction.atomic():
        return notification_enqueue(
            purpose="page",
            recipient=Recipient(channel.kind, channel.address, channel=channel),
            subject="Ledger close failed",
            idempotency_key=key,
            now=T0,
        )


# --- Save time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "address", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "link-local"),
        ("http://10.1.2.3:8080/hook", "10.1.2.3", "private"),
        ("https://192.168.0.10/hook", "192.168.0.10", "private"),
        ("http://172.16.5.4/", "172.16.5.4", "private"),
        ("http://[fd00::1]/hook", "fd00::1", "private"),
        ("http://[fe80::1]/hook", "fe80::1", "link-local"),
        ("http://0.0.0.0:9000/", "0.0.0.0", "unspecified"),  # noqa: S104
        ("http://224.0.0.1/", "224.0.0.1", "multicast"),
        ("http://[::ffff:169.254.169.254]/", "169.254.169.254", "link-local"),
    ],
)
def test_a_webhook_channel_to_a_forbidden_address_is_refused_on_save(db, url, address, kind):
    channel = Channel(name="hook", kind="webhook", address=url)
    with pytest.raises(ValidationError) as refused:
        channel.full_clean()
    message = refused.value.message_dict["address"][0]
    assert address in message and kind in message and "BATCHWATCH_OUTBOUND_ALLOW" in message


def test_a_name_resolving_to_cloud_metadata_is_refused_on_save(db, dns):
    dns["metadata.attacker.example"] = ["169.254.169.254"]
    channel = Channel(name="hook", kind="webhook", address="https://metadata.attacker.example/x")
    with pytest.raises(ValidationError, match=r"metadata.attacker.example resolves to 169\.254"):
        channel.full_clean()


def test_public_addresses_and_other_kinds_are_accepted(db, dns):
    dns["hooks.example.com"] = ["93.184.216.34"]
    Channel(name="a", kind="webhook", address="https://hooks.example.com/x").full_clean()
    Channel(name="b", kind="webhook", address="https://8.8.8.8/x").full_clean()
    Channel(name="c", kind="email", address="ops@10.0.0.1.example").full_clean()


def test_loopback_is_allowed_outside_production_only(db, settings, production):
    channel = Channel(name="hook", kind="webhook", address="http://127.0.0.1:8080/hook")
    with pytest.raises(ValidationError, match=r"127\.0\.0\.1 is a loopback address"):
        channel.full_clean()
    production.PRODUCTION = False
    channel.full_clean()
    channel.address = "http://10.0.0.7/hook"  # private stays refused in development
    with pytest.raises(ValidationError, match=r"10\.0\.0\.7 is a private address"):
        channel.full_clean()


def test_the_operator_allows_networks_and_names(db, dns, production):
    production.BATCHWATCH_OUTBOUND_ALLOW = ["10.20.0.0/16", "hooks.internal", ".corp.example"]
    dns["hooks.internal"] = ["10.99.0.1"]
    dns["alerts.corp.example"] = ["192.168.1.1"]
    dns["corp.example.evil.test"] = ["192.168.1.1"]
    Channel(name="a", kind="webhook", address="http://10.20.3.4/hook").full_clean()
    Channel(name="b", kind="webhook", address="http://hooks.internal/hook").full_clean()
    Channel(name="c", kind="webhook", address="http://alerts.corp.example/hook").full_clean()
    for url in ("http://10.21.0.1/hook", "http://corp.example.evil.test/"):
        with pytest.raises(ValidationError):
            Channel(name="d", kind="webhook", address=url).full_clean()


# --- Connect time, after DNS resolution -------------------------------------------------------


def test_delivery_to_a_name_resolving_to_metadata_fails_and_breaks_the_channel(db, dns):
    # Saved while the name answered a public address; at delivery it answers the metadata
    # service (DNS rebinding): refused at connect time, no request leaves.
    dns["rebind.attacker.example"] = ["93.184.216.34"]
    channel = Channel(name="hook", kind="webhook", address="http://rebind.attacker.example/h")
    channel.full_clean()
    channel.save()
    dns["rebind.attacker.example"] = ["169.254.169.254"]
    notification = _enqueue(channel)
    assert deliver(notification.pk, now=T0) == "failed"
    notification.refresh_from_db()
    channel.refresh_from_db()
    assert notification.state == Notification.State.FAILED and notification.attempts == 1
    assert channel.is_broken
    assert "rebind.attacker.example resolves to 169.254.169.254" in channel.last_error
    assert "link-local" in channel.last_error


def test_delivery_to_loopback_is_refused_in_production(db, production, receiver, dns):
    dns["local.attacker.example"] = ["127.0.0.1"]
    for url in (
        f"http://127.0.0.1:{receiver.port}/hook",
        f"http://local.attacker.example:{receiver.port}/hook",
    ):
        notification = transports_notification(url)
        with pytest.raises(transports.TransportError) as refused:
            transports.send_webhook(notification)
        assert refused.value.permanent and "127.0.0.1" in refused.value.message
    assert receiver.hosts == []  # nothing reached the receiver


def test_a_name_with_one_private_answer_among_public_ones_is_refused(db, dns):
    dns["mixed.attacker.example"] = ["93.184.216.34", "10.0.0.1"]
    with pytest.raises(transports.TransportError, match=r"resolves to 10\.0\.0\.1"):
        transports.send_webhook(transports_notification("http://mixed.attacker.example/h"))


def test_the_connection_goes_to_the_checked_address_with_the_original_host(
    db, settings, receiver, dns
):
    settings.BATCHWATCH_OUTBOUND_ALLOW = []
    dns["hooks.test"] = ["127.0.0.1"]  # loopback: allowed outside production
    transports.send_webhook(transports_notification(f"http://hooks.test:{receiver.port}/h"))
    assert receiver.hosts == [f"hooks.test:{receiver.port}"]
    assert dns["lookups"].count("hooks.test") == 1  # resolved once, and that answer used


def test_through_a_proxy_the_target_is_checked_before_the_request(db, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    with pytest.raises(transports.TransportError) as refused:
        transports.send_webhook(transports_notification("http://169.254.169.254/latest/"))
    assert refused.value.permanent and "169.254.169.254" in refused.value.message


def test_refusal_sentences_are_plain():
    from batchwatch.core import outbound

    assert outbound.refusal("8.8.8.8") is None
    assert outbound.refusal("169.254.169.254") == (
        "169.254.169.254 is a link-local address (where cloud metadata services live);"
        " Batchwatch does not send requests there unless the operator allows it in"
        " BATCHWATCH_OUTBOUND_ALLOW"
    )


def transports_notification(url: str) -> Notification:
    return Notification(
        purpose="page",
        transport="webhook",
        address=url,
        subject="Ledger close failed",
        idempotency_key="k-outbound",
        payload={},
    )


def test_config_as_code_refuses_a_webhook_to_cloud_metadata(db, tmp_path, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    path = tmp_path / "alerting.yaml"
    path.write_text(
        "channels:\n  - {name: hook, kind: webhook, address: 'http://169.254.169.254/x'}\n"
    )
    with pytest.raises(CommandError) as failure:
        call_command("alerts", "load-config", str(path))
    assert failure.value.returncode == 2
    assert "channels[0].address: 169.254.169.254 is a link-local address" in capsys.readouterr().err
    assert not Channel.objects.exists()


# --- Integrations the operator configures: Grafana and Flink's REST API ---------------------

FORBIDDEN_INTEGRATION_URLS = [
    ("http://169.254.169.254", "169.254.169.254", "link-local"),
    ("http://10.0.0.5:3000", "10.0.0.5", "private"),
]


@pytest.mark.parametrize(("url", "address", "kind"), FORBIDDEN_INTEGRATION_URLS)
def test_grafana_on_a_forbidden_address_is_refused(db, production, url, address, kind):
    from batchwatch.dashboards.grafana import Grafana, GrafanaError

    with pytest.raises(GrafanaError) as refused:
        Grafana(url, "glsa_token")
    message = str(refused.value)
    assert message.startswith("the Grafana URL is refused: ")
    assert address in message and kind in message and "BATCHWATCH_OUTBOUND_ALLOW" in message


@pytest.mark.parametrize(("url", "address", "kind"), FORBIDDEN_INTEGRATION_URLS)
def test_dashboards_deploy_to_a_forbidden_grafana_is_a_sentence(db, production, url, address, kind):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=rf"refused: {address} is a {kind}") as refused:
        call_command("dashboards", "deploy", "--url", url, "--token", "glsa_token")
    assert refused.value.returncode == 1


def test_grafana_is_checked_again_at_connect_time(db, production, dns):
    # Created while the name answered a public address; re-pointed at the metadata service
    # before the request (DNS rebinding): refused at connect time, not retried.
    from batchwatch.dashboards.grafana import Grafana, GrafanaError

    dns["grafana.attacker.example"] = ["93.184.216.34"]
    client = Grafana("http://grafana.attacker.example", "glsa_token", backoff=0.01)
    dns["grafana.attacker.example"] = ["169.254.169.254"]
    with pytest.raises(GrafanaError, match=r"resolves to 169\.254\.169\.254, which is a link"):
        client.folder_exists("bw-ledger")
    assert dns["lookups"].count("grafana.attacker.example") == 2  # no retries after a refusal


def test_grafana_on_loopback_is_refused_in_production_and_allowed_when_listed(db, production):
    from batchwatch.dashboards.grafana import Grafana, GrafanaError
    from tests.dashboards.grafana_server import TOKEN, FakeGrafana

    server = FakeGrafana()
    try:
        with pytest.raises(GrafanaError, match=r"127\.0\.0\.1 is a loopback address"):
            Grafana(server.url, TOKEN)
        assert server.requests == []
        production.BATCHWATCH_OUTBOUND_ALLOW = ["127.0.0.1/32"]
        assert Grafana(server.url, TOKEN).folder_exists("nope") is False
        assert server.requests == [("GET", "/api/folders/nope")]
    finally:
        server.close()


@pytest.mark.parametrize(("url", "address", "kind"), FORBIDDEN_INTEGRATION_URLS)
def test_poll_flink_of_a_forbidden_address_is_exit_2(db, production, url, address, kind):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=rf"--url {url} is refused: {address} is a {kind}") as e:
        call_command("poll_flink", "--url", url)
    assert e.value.returncode == 2


@pytest.mark.parametrize(("url", "address", "kind"), FORBIDDEN_INTEGRATION_URLS)
def test_scheduled_flink_poll_of_a_forbidden_address_is_refused(production, url, address, kind):
    from batchwatch.ingest.flinkrest import FlinkUnreachable, poll

    with pytest.raises(FlinkUnreachable, match=rf"is refused: {address} is a {kind}"):
        poll(url)


def test_flink_is_checked_again_at_connect_time(production, dns, receiver):
    from batchwatch.ingest.flinkrest import FlinkUnreachable, _get

    dns["flink.attacker.example"] = ["10.1.2.3"]
    with pytest.raises(FlinkUnreachable, match=r"resolves to 10\.1\.2\.3, which is a private"):
        _get("http://flink.attacker.example:8081", "/jobs/overview", timeout=1)
    dns["flink.attacker.example"] = ["127.0.0.1"]
    with pytest.raises(FlinkUnreachable, match=r"resolves to 127\.0\.0\.1, which is a loopback"):
        _get(f"http://flink.attacker.example:{receiver.port}", "/jobs/overview", timeout=1)
    assert receiver.hosts == []


def test_a_forbidden_integration_url_in_the_environment_is_a_check_warning(production):
    from batchwatch.core.checks import integration_urls_allowed

    production.GRAFANA_URL = "http://169.254.169.254"
    production.BATCHWATCH_FLINK_URLS = ["http://flink-jobmanager:8081", "http://10.0.0.9:8081"]
    production.SLACK_API_URL = "https://slack.com/api/"
    warnings = integration_urls_allowed(None)
    assert [w.msg.split(":")[0] for w in warnings] == ["GRAFANA_URL", "BATCHWATCH_FLINK_URLS"]
    assert "10.0.0.9 is a private address" in warnings[1].msg  # names: checked on connecting


def test_slack_web_api_calls_are_checked_at_connect_time(db, production):
    # SLACK_API_URL is the operator's; the SDK's requests still go through the guard (an SDK
    # upgrade that stopped calling the guarded method would fail here).
    from batchwatch.core.outbound import OutboundRefused
    from batchwatch.notify.transports import TransportError
    from batchwatch.slack import config, delivery
    from tests.slack.slack_server import TOKEN, FakeSlack

    server = FakeSlack()
    try:
        production.SLACK_API_URL = server.url + "/api/"  # 127.0.0.1: refused in production
        client = config.web_client(TOKEN)
        with pytest.raises(OutboundRefused, match=r"127\.0\.0\.1 is a loopback address"):
            client.auth_test()
        with pytest.raises(TransportError) as refused:
            delivery._call(client.auth_test)
        assert refused.value.permanent and "BATCHWATCH_OUTBOUND_ALLOW" in refused.value.message
        assert server.calls == []
        production.BATCHWATCH_OUTBOUND_ALLOW = ["127.0.0.1"]
        assert client.auth_test()["ok"] is True
        assert [call.method for call in server.calls] == ["auth.test"]
    finally:
        server.close()
