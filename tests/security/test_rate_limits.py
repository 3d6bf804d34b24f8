"""Rate limits on wrong credentials (issue 17): sign-in lockouts per user name and per address
(django-axes), and wrong ingest keys and integration tokens counted per address
(core/ratelimit.py). Each ends in 429 with Retry-After; a valid credential is never throttled,
even from an address that floods wrong ones."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client

from batchwatch.alerts.models import Integration
from batchwatch.alerts.services import integration_create
from batchwatch.audit.models import AuditEvent
from batchwatch.core import ratelimit
from batchwatch.ingest.services import ingest_key_create
from tests.ingest.helpers import sample
from tests.security.test_headers import INLINE_SCRIPT, assert_secure_headers

PASSWORD = "correct horse battery"  # tests/conftest.py's make_user


def _login(username: str, password: str, address: str = "10.0.0.1", path: str = "/login/"):
    return Client(REMOTE_ADDR=address).post(path, {"username": username, "password": password})


# --- sign-in -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_name_is_locked_after_five_wrong_passwords_from_anywhere(teammate, owner):
    for n in range(4):  # from several addresses: the user name is what is guessed
        assert _login("tom", "wrong", address=f"10.0.0.{n + 1}").status_code == 200
    locks = AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_LOCKED)
    assert not locks.exists()
    locked = _login("tom", "wrong", address="10.0.0.9")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "900"
    page = locked.content.decode()
    assert "Sign-in locked" in page and "Traceback" not in page
    assert_secure_headers(locked)  # a page like every other (tests/security/test_headers.py)
    assert not INLINE_SCRIPT.search(locked.content)
    # Locked: even the right password is refused (and costs no hashing) ...
    assert _login("tom", PASSWORD, address="10.0.0.20").status_code == 429
    # ... once audited, not once per attempt.
    event = locks.get()
    assert event.target_repr == "tom" and event.ip == "10.0.0.9"
    assert "wrong" not in json.dumps(event.detail)  # the password is never recorded
    # Another user from the same address signs in.
    assert _login("olivia", PASSWORD, address="10.0.0.9").status_code == 302


@pytest.mark.django_db
def test_an_address_is_locked_after_twenty_wrong_passwords_for_any_user_names(teammate):
    for n in range(19):
        assert _login(f"guess{n}", "wrong", address="10.9.9.9").status_code == 200
    assert _login("guess19", "wrong", address="10.9.9.9").status_code == 429
    response = _login("tom", PASSWORD, address="10.9.9.9")
    assert response.status_code == 429 and response["Retry-After"] == "900"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.LOGIN_LOCKED).count() == 1
    # The user names were tried once each: from elsewhere, tom signs in.
    assert _login("tom", PASSWORD, address="10.1.1.1").status_code == 302


@pytest.mark.django_db
def test_the_admin_login_is_locked_with_the_same_page(admin):
    for _ in range(4):
        assert _login("ada", "wrong", path="/admin/login/").status_code == 200
    response = _login("ada", "wrong", path="/admin/login/")
    assert response.status_code == 429 and response["Retry-After"] == "900"
    assert "Sign-in locked" in response.content.decode()
    assert _login("ada", PASSWORD, path="/login/").status_code == 429  # one lock for both


@pytest.mark.django_db
def test_the_address_behind_trusted_proxies_is_the_one_locked(settings, teammate):
    settings.BATCHWATCH_TRUSTED_PROXY_COUNT = 1

    def via_proxy(client_address: str, username: str, spoofed: str = "1.2.3.4"):
        return Client(
            REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR=f"{spoofed}, {client_address}"
        ).post("/login/", {"username": username, "password": "wrong"})

    for n in range(20):  # a client choosing its own left-most X-Forwarded-For gains nothing
        via_proxy("203.0.113.7", f"guess{n}", spoofed=f"1.2.3.{n}")
    assert via_proxy("203.0.113.7", "guess20").status_code == 429
    assert via_proxy("203.0.113.8", "guess21").status_code == 200  # nor is the proxy locked
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.7",
        "203.0.113.8",
    }


@pytest.mark.django_db
def test_a_lockout_ends_after_the_cool_off(teammate):
    for _ in range(5):
        _login("tom", "wrong")
    assert _login("tom", PASSWORD).status_code == 429
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )
    assert _login("tom", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_staff_see_and_clear_lockouts_in_admin(admin, teammate):
    for _ in range(5):
        _login("tom", "wrong")
    staff = Client()
    staff.force_login(admin)
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "tom" in listing.content.decode()
    attempt = AccessAttempt.objects.get()
    response = staff.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}, follow=True
    )
    assert response.status_code == 200 and not AccessAttempt.objects.exists()
    assert _login("tom", PASSWORD).status_code == 302  # unlocked


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["a\x00b", ""])
def test_user_names_the_form_refuses_are_not_counted(username):
    for _ in range(6):  # refused before authenticating: nothing to count
        assert _login(username, "wrong").status_code == 200
    assert not AccessAttempt.objects.exists()


@pytest.mark.django_db
def test_a_user_name_longer_than_any_is_counted_never_a_500():
    for _ in range(4):  # PostgreSQL refused axes' row for it (varchar 255): a 500
        assert _login("x" * 300, "wrong").status_code == 200
    assert _login("x" * 300, "wrong").status_code == 429
    assert AccessAttempt.objects.get().username == "x" * 150


# --- ingest keys and integration tokens --------------------------------------------------


@pytest.fixture
def limit(settings):
    settings.BATCHWATCH_BAD_CREDENTIAL_LIMIT = 3
    settings.BATCHWATCH_BAD_CREDENTIAL_WINDOW_SECONDS = 60
    return 3


def _otlp(key: str, address: str = "10.7.7.7", content_type: str = "application/json"):
    body = json.dumps({"resourceSpans": []}).encode()
    return Client(REMOTE_ADDR=address).post(
        "/v1/traces", body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {key}"
    )


@pytest.mark.django_db
def test_wrong_ingest_keys_are_throttled_but_a_valid_key_from_the_same_address_is_not(limit):
    valid = ingest_key_create(name="exporter")[1]
    for _ in range(limit):
        assert _otlp("bw_wrong").status_code == 401
    throttled = _otlp("bw_wrong")
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert "wrong credential" in throttled.json()["message"]  # google.rpc.Status, in JSON
    assert throttled.json()["code"] == 8  # RESOURCE_EXHAUSTED
    # The sender with a valid key, behind the same NAT, goes on.
    for _ in range(limit + 2):
        assert _otlp(valid).status_code == 200
    # Another address is not throttled either.
    assert _otlp("bw_wrong", address="10.7.7.8").status_code == 401


@pytest.mark.django_db
def test_openlineage_gets_429_as_json(limit):
    def post():
        return Client(REMOTE_ADDR="10.7.7.7").post(
            "/api/v1/lineage", "{}", content_type="application/json", HTTP_AUTHORIZATION="Bearer x"
        )

    for _ in range(limit):
        assert post().status_code == 401
    response = post()
    assert response.status_code == 429 and response["Retry-After"]
    assert "retry in" in response.json()["error"]


@pytest.mark.django_db
def test_the_count_starts_again_in_the_next_window(limit, monkeypatch):
    clock = [1_000_040.0]  # 20 s into a 60 s window
    monkeypatch.setattr(ratelimit.time, "time", lambda: clock[0])
    for _ in range(limit):
        _otlp("bw_wrong")
    response = _otlp("bw_wrong")
    assert response.status_code == 429 and response["Retry-After"] == "40"
    clock[0] += 40
    assert _otlp("bw_wrong").status_code == 401


def _intake(kind: str, token: str, address: str = "10.8.8.8"):
    client = Client(REMOTE_ADDR=address)
    if kind == "pagerduty":
        event = {
            "routing_key": token,
            "event_action": "trigger",
            "payload": {"summary": "Ledger close failed", "source": "a", "severity": "error"},
        }
        return client.post("/v2/enqueue", json.dumps(event), content_type="application/json")
    path = {"alertmanager": "/api/v1/integrations/alertmanager/"}.get(
        kind, "/api/v1/integrations/webhook/"
    )
    if kind == "alertmanager":
        body = sample("alertmanager/0001_POST_alertmanager_webhook.json")
    else:
        body = json.dumps({"alerts": [{"labels": {"alertname": "Lag"}, "summary": "lag"}]})
    return client.post(
        path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "refused"),
    [("alertmanager", 401), ("webhook", 401), ("pagerduty", 400)],
)
def test_wrong_integration_tokens_are_throttled_per_address(limit, kind, refused):
    valid = integration_create(name=kind, kind=Integration.Kind(kind))[1]
    for _ in range(limit):
        assert _intake(kind, "wrong-token").status_code == refused
    throttled = _intake(kind, "wrong-token")
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    body = throttled.json()
    assert "wrong credential" in body["message"] and body["errors"] == [body["message"]]
    # A valid token from the flooding address still delivers its alerts.
    assert _intake(kind, valid).status_code in {200, 202}
