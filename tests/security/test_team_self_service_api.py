"""The API of team self-service, persona by persona: staff (any team), the team's owner
(olivia), its member (tom: reads; her own overrides), an outsider (oscar of risk: 403, or 404
for what is another team's by id)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from batchwatch.alerts.models import Integration
from batchwatch.alerts.services import integration_create
from batchwatch.audit.models import AuditEvent
from batchwatch.ingest.models import IngestKey
from batchwatch.ingest.services import ingest_key_create
from batchwatch.oncall.models import RotationOverride
from batchwatch.oncall.services import layer_save, override_add, policy_save, rotation_upsert

MEMBERS = "/api/v1/teams/ledger/members/"


@pytest.fixture
def rotation(team_a, owner, teammate):
    rotation = rotation_upsert(slug="ledger-primary", name="Ledger primary", team=team_a)
    layer_save(
        rotation=rotation,
        participants=[owner, teammate],
        start_date=date(2026, 1, 5),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=7),
    )
    return rotation


# --- members -------------------------------------------------------------------------------


def test_everyone_reads_members(api_as, outsider, owner):
    response = api_as(outsider).get(MEMBERS)
    assert response.status_code == 200
    assert {m["username"]: m["role"] for m in response.json()} == {"olivia": "owner"}
    assert api_as(outsider).get("/api/v1/teams/nope/members/").status_code == 404
    assert api_as().get(MEMBERS).status_code == 401


def test_owner_adds_changes_and_removes_members(api_as, owner, make_user, team_a):
    make_user("uma", email="uma@example.org")
    client = api_as(owner)
    added = client.post(MEMBERS, {"user": "UMA@example.org"}, format="json")
    assert added.status_code == 201 and added.json()["role"] == "member"
    changed = client.patch(f"{MEMBERS}uma/", {"role": "owner"}, format="json")
    assert changed.status_code == 200 and changed.json()["role"] == "owner"
    assert client.delete(f"{MEMBERS}uma/").status_code == 204
    assert not team_a.memberships.filter(user__username="uma").exists()
    assert AuditEvent.objects.filter(action="role.changed", actor=owner).count() == 3


def test_the_last_owner_stays(api_as, owner):
    client = api_as(owner)
    demoted = client.patch(f"{MEMBERS}olivia/", {"role": "member"}, format="json")
    assert demoted.status_code == 400 and "at least one owner" in demoted.content.decode()
    assert client.delete(f"{MEMBERS}olivia/").status_code == 400


def test_members_and_outsiders_cannot_change_members(api_as, owner, teammate, outsider, make_user):
    make_user("uma")
    for user in (teammate, outsider):
        client = api_as(user)
        assert client.post(MEMBERS, {"user": "uma"}, format="json").status_code == 403
        assert client.patch(f"{MEMBERS}olivia/", {"role": "member"}).status_code == 403
        assert client.delete(f"{MEMBERS}olivia/").status_code == 403


def test_staff_change_any_team_and_bad_input_is_a_400(api_as, admin, teammate, team_a):
    client = api_as(admin)
    assert client.patch(f"{MEMBERS}tom/", {"role": "owner"}, format="json").status_code == 200
    assert client.post(MEMBERS, {"user": "tom"}, format="json").status_code == 400  # already in
    assert client.post(MEMBERS, {"user": "ghost"}, format="json").status_code == 400
    assert client.post(MEMBERS, {"user": "tom", "role": "boss"}, format="json").status_code == 400
    assert client.delete(f"{MEMBERS}ghost/").status_code == 404


# --- overrides -----------------------------------------------------------------------------


def _override(user: str, days: int = 1) -> dict:
    start = datetime.now(UTC) + timedelta(days=days)
    return {
        "rotation": "ledger-primary",
        "user": user,
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=8)).isoformat(),
        "reason": "swap",
    }


def test_override_permissions_by_persona(api_as, owner, teammate, outsider, admin, rotation):
    url = "/api/v1/rotation-overrides/"
    assert api_as(owner).post(url, _override("tom"), format="json").status_code == 201
    assert api_as(teammate).post(url, _override("olivia", 2), format="json").status_code == 403
    assert api_as(teammate).post(url, _override("tom", 3), format="json").status_code == 201
    assert api_as(outsider).post(url, _override("oscar", 4), format="json").status_code == 403
    # Staff put anyone of the team on call, but not someone outside it.
    assert api_as(admin).post(url, _override("olivia", 5), format="json").status_code == 201
    assert api_as(admin).post(url, _override("oscar", 6), format="json").status_code == 400
    assert RotationOverride.objects.count() == 3
    listed = api_as(outsider).get(url, {"rotation": "ledger-primary", "ahead": "true"})
    assert listed.status_code == 200 and listed.json()["count"] == 3
    assert AuditEvent.objects.filter(action="override.created").count() == 3


def test_override_removal_by_persona(api_as, owner, teammate, outsider, rotation):
    now = datetime.now(UTC)
    mine = override_add(
        rotation=rotation, user=teammate, starts_at=now, ends_at=now + timedelta(hours=1)
    )
    hers = override_add(
        rotation=rotation, user=owner, starts_at=now, ends_at=now + timedelta(hours=2)
    )
    url = "/api/v1/rotation-overrides/{}/"
    assert api_as(outsider).delete(url.format(mine.pk)).status_code == 403
    assert api_as(teammate).delete(url.format(hers.pk)).status_code == 403
    assert api_as(teammate).delete(url.format(mine.pk)).status_code == 204
    assert api_as(owner).delete(url.format(hers.pk)).status_code == 204
    assert not RotationOverride.objects.exists()


def test_an_override_ending_before_it_starts_is_a_400(api_as, owner, rotation):
    body = _override("tom")
    body["ends_at"], body["starts_at"] = body["starts_at"], body["ends_at"]
    response = api_as(owner).post("/api/v1/rotation-overrides/", body, format="json")
    assert response.status_code == 400


# --- ingest keys and integrations ----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "model", "secret", "body"),
    [
        ("/api/v1/ingest-keys/", IngestKey, "key", {"name": "prod Airflow"}),
        (
            "/api/v1/alert-integrations/",
            Integration,
            "token",
            {"name": "prod AM", "kind": "alertmanager"},
        ),
    ],
)
def test_secrets_by_persona(api_as, owner, teammate, outsider, admin, url, model, secret, body):
    body = {**body, "team": "ledger"}
    assert api_as(teammate).post(url, body, format="json").status_code == 403
    assert api_as(outsider).post(url, body, format="json").status_code == 403
    created = api_as(owner).post(url, body, format="json")
    assert created.status_code == 201
    raw, pk = created.json()[secret], created.json()["id"]
    # Members read the prefix, never the secret; outsiders do not see it at all.
    listed = api_as(teammate).get(url).json()["results"]
    assert [row["id"] for row in listed] == [pk] and raw not in str(listed)
    assert api_as(outsider).get(url).json()["results"] == []
    assert api_as(outsider).get(f"{url}{pk}/").status_code == 404
    assert api_as(outsider).delete(f"{url}{pk}/").status_code == 404
    assert api_as(teammate).delete(f"{url}{pk}/").status_code == 403
    assert api_as(owner).delete(f"{url}{pk}/").status_code == 204
    assert model.objects.get(pk=pk).revoked_at is not None
    # Staff see all and only staff make one without a team.
    assert api_as(owner).post(url, {**body, "team": None}, format="json").status_code == 403
    assert api_as(admin).post(url, {**body, "team": None}, format="json").status_code == 201
    assert len(api_as(admin).get(url).json()["results"]) == 2


def test_secret_writes_are_audited(api_as, owner, team_a):
    key, _ = ingest_key_create(name="k", team=team_a)
    integration, _ = integration_create(name="i", kind="webhook", team=team_a)
    client = api_as(owner)
    client.delete(f"/api/v1/ingest-keys/{key.pk}/")
    client.delete(f"/api/v1/alert-integrations/{integration.pk}/")
    actions = set(AuditEvent.objects.filter(actor=owner).values_list("action", flat=True))
    assert {"ingest_key.revoked", "integration.revoked"} <= actions


# --- escalation policies -------------------------------------------------------------------


@pytest.fixture
def policy(team_a, rotation):
    return policy_save(
        slug="ledger-default",
        name="Ledger default",
        team=team_a,
        steps=[{"target": "rotation", "rotation": rotation}],
    )


def test_everyone_reads_policies_owners_replace_steps(
    api_as, owner, teammate, outsider, admin, policy
):
    url = "/api/v1/escalation-policies/ledger-default/"
    read = api_as(outsider).get(url)
    assert read.status_code == 200 and read.json()["steps"][0]["rotation"] == "ledger-primary"
    body = {
        "steps": [
            {"target": "rotation", "rotation": "ledger-primary", "wait": "00:10:00"},
            {"target": "user", "user": "olivia"},
        ],
        "repeat": 1,
    }
    assert api_as(teammate).patch(url, body, format="json").status_code == 403
    assert api_as(outsider).patch(url, body, format="json").status_code == 403
    changed = api_as(owner).patch(url, body, format="json")
    assert changed.status_code == 200, changed.json()
    assert [s["target"] for s in changed.json()["steps"]] == ["rotation", "user"]
    assert changed.json()["repeat"] == 1
    assert AuditEvent.objects.filter(action="policy.changed", actor=owner).exists()
    staff = api_as(admin).patch(url, {"steps": []}, format="json")
    assert staff.status_code == 200 and staff.json()["steps"] == []


def test_a_step_missing_whom_is_a_400_and_changes_nothing(api_as, owner, policy):
    url = "/api/v1/escalation-policies/ledger-default/"
    bad = api_as(owner).patch(url, {"steps": [{"target": "user"}]}, format="json")
    assert bad.status_code == 400 and "needs a user" in bad.content.decode()
    too_long = {"steps": [{"target": "team", "team": "ledger", "wait": "30 00:00:00"}]}
    assert api_as(owner).patch(url, too_long, format="json").status_code == 400
    assert list(policy.steps.values_list("target", flat=True)) == ["rotation"]


# --- shift swaps ---------------------------------------------------------------------------


def test_swaps_by_persona(api_as, owner, teammate, outsider, rotation):
    url = "/api/v1/shift-swaps/"
    start = datetime.now(UTC) + timedelta(days=1)
    body = {
        "rotation": "ledger-primary",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(days=1)).isoformat(),
    }
    assert api_as(outsider).post(url, body, format="json").status_code == 403
    hers = api_as(teammate).post(url, {**body, "requester": "olivia"}, format="json")
    assert hers.status_code == 403
    offered = api_as(teammate).post(url, body, format="json")
    assert offered.status_code == 201 and offered.json()["requester"] == "tom"
    pk = offered.json()["id"]
    assert api_as(teammate).post(f"{url}{pk}/take/").status_code == 403  # her own
    assert api_as(outsider).post(f"{url}{pk}/take/").status_code == 403
    taken = api_as(owner).post(f"{url}{pk}/take/")
    assert taken.status_code == 200 and taken.json()["taker"] == "olivia"
    assert api_as(owner).post(f"{url}{pk}/take/").status_code == 400  # taken already
    assert api_as(outsider).post(f"{url}{pk}/cancel/").status_code == 403
    cancelled = api_as(teammate).post(f"{url}{pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert api_as(outsider).get(url, {"state": "cancelled"}).json()["count"] == 1
