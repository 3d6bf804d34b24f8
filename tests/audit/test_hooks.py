"""Each security-relevant action writes exactly one audit event, in its own transaction, with
who acted, the team it concerns, what it was done to, and no secret."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from batchwatch.alerts import services as alerts
from batchwatch.alerts.models import MaintenanceWindow, Silence
from batchwatch.audit.models import AuditEvent
from batchwatch.catalog import services as catalog
from batchwatch.catalog.models import Membership
from batchwatch.ingest.models import IngestKey
from batchwatch.ingest.services import ingest_key_create, ingest_keys_revoke

Action = AuditEvent.Action
NOW = datetime.now(UTC).replace(microsecond=0)
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def only_event(action: str) -> AuditEvent:
    """The one event of ``action`` (the fixtures' memberships wrote role changes before)."""
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, events
    return events[0]


def _silence_body(*matchers: str, **extra) -> dict:
    return {
        "matchers": list(matchers),
        "starts_at": NOW.isoformat(),
        "ends_at": (NOW + timedelta(hours=2)).isoformat(),
        "comment": "backfill",
        **extra,
    }


# --- silences: API, page and Slack all go through alerts.services ---------------------------


@pytest.mark.django_db
def test_silence_created_and_expired_through_the_api(api_as, teammate, team_a):
    response = api_as(teammate).post(
        "/api/v1/silences/", _silence_body('job="close"'), format="json"
    )
    assert response.status_code == 201, response.content
    event = only_event(Action.SILENCE_CREATED)
    silence = Silence.objects.get()
    assert (event.actor, event.actor_name, event.team) == (teammate, "tom", team_a)
    assert (event.target_type, event.target_id) == ("alerts.Silence", str(silence.pk))
    assert event.detail["matchers"] == ['job="close"', 'team="ledger"']
    assert event.ip == "127.0.0.1"
    assert api_as(teammate).delete(f"/api/v1/silences/{silence.pk}/").status_code == 204
    expired = only_event(Action.SILENCE_EXPIRED)
    assert (expired.actor, expired.team, expired.target_id) == (teammate, team_a, str(silence.pk))
    # Expiring it again changes nothing, and records nothing.
    api_as(teammate).delete(f"/api/v1/silences/{silence.pk}/")
    assert AuditEvent.objects.filter(action=Action.SILENCE_EXPIRED).count() == 1


@pytest.mark.django_db
def test_silence_created_and_expired_on_the_page(client, outsider, team_b):
    client.force_login(outsider)
    client.post("/silences/", {"matchers": 'job="var"', "hours": "2", "comment": "rerun"})
    event = only_event(Action.SILENCE_CREATED)
    assert (event.actor, event.team) == (outsider, team_b)
    silence = Silence.objects.get()
    client.post("/silences/", {"action": "expire", "silence": silence.pk, "confirm": "1"})
    assert only_event(Action.SILENCE_EXPIRED).actor == outsider


@pytest.mark.django_db
def test_a_refused_silence_records_nothing(api_as, outsider, team_a):
    before = AuditEvent.objects.count()
    response = api_as(outsider).post(
        "/api/v1/silences/", _silence_body('team="ledger"'), format="json"
    )
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_silence_created_from_slack(teammate, ledger_job):
    from batchwatch.slack.commands import _silence

    _silence([ledger_job.key, "2h", "backfill"], teammate, NOW)
    event = only_event(Action.SILENCE_CREATED)
    assert (event.actor, event.team) == (teammate, ledger_job.owner_team)
    assert event.detail["matchers"][0] == f'job="{ledger_job.key}"'


@pytest.mark.django_db
def test_a_silence_rolled_back_leaves_no_event(teammate, team_a):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        alerts.silence_create(
            matchers=['team="ledger"'],
            starts_at=NOW,
            ends_at=NOW + timedelta(hours=1),
            comment="x",
            created_by=teammate,
            now=NOW,
        )
        raise RuntimeError("the action failed after the service")
    assert not AuditEvent.objects.filter(action=Action.SILENCE_CREATED).exists()


# --- maintenance windows ------------------------------------------------------------------


@pytest.mark.django_db
def test_maintenance_window_created_updated_deleted_through_the_api(api_as, teammate, team_a):
    url = "/api/v1/maintenance-windows/"
    body = {
        "name": "patching",
        "matchers": ['job="close"'],
        "starts_at": "2026-12-05T07:00:00Z",
        "duration": "02:00:00",
        "timezone": "UTC",
    }
    response = api_as(teammate).post(url, body, format="json")
    assert response.status_code == 201, response.content
    window = MaintenanceWindow.objects.get()
    assert response.json()["id"] == window.pk
    created = only_event(Action.MAINTENANCE_CREATED)
    assert (created.actor, created.team, created.target_repr) == (teammate, team_a, "patching")
    assert created.detail["matchers"] == ['job="close"', 'team="ledger"']

    assert (
        api_as(teammate).patch(f"{url}{window.pk}/", {"name": "OS patching"}, format="json")
    ).status_code == 200
    updated = only_event(Action.MAINTENANCE_UPDATED)
    assert updated.detail["changed"] == ["name"]
    assert updated.detail["before"] == {"name": "patching"}
    assert updated.detail["after"] == {"name": "OS patching"}
    # A save that changes nothing is no event.
    api_as(teammate).patch(f"{url}{window.pk}/", {"name": "OS patching"}, format="json")
    assert AuditEvent.objects.filter(action=Action.MAINTENANCE_UPDATED).count() == 1

    assert api_as(teammate).delete(f"{url}{window.pk}/").status_code == 204
    deleted = only_event(Action.MAINTENANCE_DELETED)
    assert (deleted.actor, deleted.team, deleted.target_id) == (teammate, team_a, str(window.pk))
    assert deleted.detail["name"] == "OS patching"
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.django_db
def test_maintenance_window_in_admin(admin, team_a):
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/alerts/maintenancewindow/add/",
        {
            "name": "db upgrade",
            "matchers": '["team=\\"ledger\\""]',
            "starts_at_0": "2026-12-05",
            "starts_at_1": "07:00:00",
            "duration": "02:00:00",
            "timezone": "UTC",
            "recurrence": "",
            "comment": "",
        },
    )
    assert response.status_code == 302, response.content
    window = MaintenanceWindow.objects.get()
    created = only_event(Action.MAINTENANCE_CREATED)
    assert (created.actor, created.team, created.target_id) == (admin, team_a, str(window.pk))
    response = client.post(f"/admin/alerts/maintenancewindow/{window.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert only_event(Action.MAINTENANCE_DELETED).actor == admin


# --- configuration as code ----------------------------------------------------------------


@pytest.fixture
def named_people(make_user):
    return [make_user(name, email=f"{name}@example.com") for name in ("alice", "bob", "carol")]


def _cli_name() -> str:
    return f"cli:{getpass.getuser()}"


@pytest.mark.django_db
def test_alerts_load_config_records_the_file_and_counts(team_a, named_people, tmp_path):
    path = EXAMPLES / "alerting.yaml"
    call_command("alerts", "load-config", str(path))
    event = only_event(Action.CONFIG_LOADED)
    assert event.actor is None and event.actor_name == _cli_name()
    assert event.detail["kind"] == "alerting"
    assert event.detail["file"] == str(path.resolve())
    assert event.detail["counts"]["routes"] == 3


@pytest.mark.django_db
def test_a_dry_run_or_a_refused_file_records_nothing(team_a, named_people, tmp_path):
    before = AuditEvent.objects.count()
    call_command("alerts", "load-config", str(EXAMPLES / "alerting.yaml"), "--check")
    bad = tmp_path / "bad.yaml"
    bad.write_text("route: {receiver: nowhere}\nrotations: 3\n")
    with pytest.raises(Exception):  # noqa: B017 (the command's exit code is tested elsewhere)
        call_command("alerts", "load-config", str(bad))
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_slo_load_records_what_changed(ledger_job, tmp_path):
    path = tmp_path / "slos.yaml"
    slo = """
slos:
  - slug: ledger-ok
    name: Ledger jobs succeed
    kind: success_ratio
    team: ledger
    objective: {objective}
    window: {{size: 30, unit: days}}
"""
    path.write_text(slo.format(objective=95))
    call_command("slo", "load", str(path))
    event = only_event(Action.CONFIG_LOADED)
    assert event.actor_name == _cli_name()
    assert event.detail == {
        "kind": "slos",
        "file": str(path.resolve()),
        "counts": {"created": 1, "changed": 0, "unchanged": 0},
    }
    path.write_text(slo.format(objective=99))
    call_command("slo", "load", str(path))
    latest = AuditEvent.objects.filter(action=Action.CONFIG_LOADED).first()
    assert latest.detail["counts"] == {"created": 0, "changed": 1, "unchanged": 0}
    path.write_text("slos: [{slug: broken}]\n")
    with pytest.raises(Exception):  # noqa: B017
        call_command("slo", "load", str(path))
    assert AuditEvent.objects.filter(action=Action.CONFIG_LOADED).count() == 2


# --- roles ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_role_changes_through_the_services(owner, teammate, team_a):
    AuditEvent.objects.all().delete()  # the fixtures' own memberships
    catalog.membership_set(team=team_a, user=teammate, role="owner", actor=owner)
    event = only_event(Action.ROLE_CHANGED)
    assert (event.actor, event.team) == (owner, team_a)
    assert event.detail == {
        "user": "tom",
        "team": "ledger",
        "old_role": "member",
        "new_role": "owner",
    }
    assert event.target_repr == "tom in ledger"
    # The same role again is no change.
    catalog.membership_set(team=team_a, user=teammate, role="owner", actor=owner)
    assert AuditEvent.objects.count() == 1
    catalog.membership_remove(team=team_a, user=teammate, actor=owner)
    removed = AuditEvent.objects.first()
    assert removed.detail["old_role"] == "owner" and removed.detail["new_role"] is None
    assert not Membership.objects.filter(user=teammate).exists()


@pytest.mark.django_db
def test_role_changes_in_admin(admin, teammate, team_a):
    AuditEvent.objects.all().delete()
    client = Client()
    client.force_login(admin)
    membership = Membership.objects.get(user=teammate)
    response = client.post(
        f"/admin/catalog/membership/{membership.pk}/change/",
        {"user": teammate.pk, "team": team_a.pk, "role": "owner"},
    )
    assert response.status_code == 302, response.content
    event = only_event(Action.ROLE_CHANGED)
    assert (event.actor, event.team) == (admin, team_a)
    assert (event.detail["old_role"], event.detail["new_role"]) == ("member", "owner")
    response = client.post(f"/admin/catalog/membership/{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert AuditEvent.objects.first().detail["new_role"] is None
    assert AuditEvent.objects.count() == 2


@pytest.mark.django_db
def test_role_changes_in_the_team_page_of_admin(admin, make_user, team_a):
    newcomer = make_user("nina")
    AuditEvent.objects.all().delete()
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/admin/catalog/team/{team_a.pk}/change/",
        {
            "name": team_a.name,
            "slug": team_a.slug,
            "description": "",
            "slack_channel": team_a.slack_channel,
            "slack_thread_updates": team_a.slack_thread_updates,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-user": newcomer.pk,
            "memberships-0-role": "member",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    event = only_event(Action.ROLE_CHANGED)
    assert (event.actor, event.team) == (admin, team_a)
    assert (event.detail["user"], event.detail["old_role"], event.detail["new_role"]) == (
        "nina",
        None,
        "member",
    )


# --- ingest keys ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_ingest_key_created_and_revoked(admin, team_a):
    key, raw = ingest_key_create(name="prod Airflow", team=team_a, created_by=admin)
    event = only_event(Action.INGEST_KEY_CREATED)
    assert (event.actor, event.team, event.target_id) == (admin, team_a, str(key.pk))
    assert event.detail == {"name": "prod Airflow", "prefix": raw[:8]}
    assert raw not in json.dumps(event.detail) and raw not in event.target_repr
    assert ingest_keys_revoke(keys=IngestKey.objects.all(), now=NOW, actor=admin) == 1
    assert only_event(Action.INGEST_KEY_REVOKED).actor == admin
    # Already revoked: nothing again.
    assert ingest_keys_revoke(keys=IngestKey.objects.all(), now=NOW, actor=admin) == 0
    assert AuditEvent.objects.filter(action=Action.INGEST_KEY_REVOKED).count() == 1


@pytest.mark.django_db
def test_ingest_keys_in_admin(admin, team_a):
    client = Client()
    client.force_login(admin)
    response = client.post(
        "/admin/ingest/ingestkey/add/", {"name": "CI", "team": team_a.pk, "revoked_at_0": ""}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key = IngestKey.objects.get()
    created = only_event(Action.INGEST_KEY_CREATED)
    assert (created.actor, created.team, created.target_id) == (admin, team_a, str(key.pk))
    response = client.post(
        "/admin/ingest/ingestkey/",
        {"action": "revoke", "_selected_action": [key.pk]},
    )
    assert response.status_code == 302
    revoked = only_event(Action.INGEST_KEY_REVOKED)
    assert (revoked.actor, revoked.team) == (admin, team_a)


@pytest.mark.django_db
def test_silences_in_admin(admin, team_a):
    client = Client()
    client.force_login(admin)
    ends = NOW + timedelta(hours=3)
    response = client.post(
        "/admin/alerts/silence/add/",
        {
            "matchers": '["team=\\"ledger\\""]',
            "starts_at_0": NOW.strftime("%Y-%m-%d"),
            "starts_at_1": NOW.strftime("%H:%M:%S"),
            "ends_at_0": ends.strftime("%Y-%m-%d"),
            "ends_at_1": ends.strftime("%H:%M:%S"),
            "comment": "from admin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    silence = Silence.objects.get()
    created = only_event(Action.SILENCE_CREATED)
    assert (created.actor, created.team, created.target_id) == (admin, team_a, str(silence.pk))
    past = datetime.now(UTC) - timedelta(minutes=1)
    response = client.post(
        f"/admin/alerts/silence/{silence.pk}/change/",
        {
            "matchers": '["team=\\"ledger\\""]',
            "starts_at_0": (past - timedelta(minutes=5)).strftime("%Y-%m-%d"),
            "starts_at_1": (past - timedelta(minutes=5)).strftime("%H:%M:%S"),
            "ends_at_0": past.strftime("%Y-%m-%d"),
            "ends_at_1": past.strftime("%H:%M:%S"),
            "comment": "from admin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert only_event(Action.SILENCE_EXPIRED).actor == admin


@pytest.mark.django_db
def test_an_ingest_key_revoked_in_its_form(admin, team_a):
    key, _ = ingest_key_create(name="CI", team=team_a, created_by=admin)
    client = Client()
    client.force_login(admin)
    response = client.post(
        f"/admin/ingest/ingestkey/{key.pk}/change/",
        {
            "name": "CI",
            "team": team_a.pk,
            "revoked_at_0": NOW.strftime("%Y-%m-%d"),
            "revoked_at_1": NOW.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    revoked = only_event(Action.INGEST_KEY_REVOKED)
    assert (revoked.actor, revoked.team, revoked.target_id) == (admin, team_a, str(key.pk))
