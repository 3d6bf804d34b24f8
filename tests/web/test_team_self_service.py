"""The team settings page: owners manage their team's people, overrides, ingest keys and
integrations without admin; members read (and put themselves on call); outsiders are refused;
staff may do anything. Personas from tests/conftest.py: owner olivia and member tom of ledger,
outsider oscar of risk, staff ada."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from batchwatch.alerts.models import Integration
from batchwatch.alerts.services import integration_create
from batchwatch.audit.models import AuditEvent
from batchwatch.catalog.models import Membership
from batchwatch.ingest.models import IngestKey
from batchwatch.ingest.services import ingest_key_create
from batchwatch.oncall.models import RotationOverride, ShiftSwap
from batchwatch.oncall.selectors import rotation_schedule
from batchwatch.oncall.services import layer_save, override_add, policy_save, rotation_upsert

URL = "/teams/ledger/settings/"


@pytest.fixture
def rotation(team_a, owner, teammate):
    rotation = rotation_upsert(
        slug="ledger-primary", name="Ledger primary", team=team_a, timezone="Europe/Berlin"
    )
    layer_save(
        rotation=rotation,
        participants=[owner, teammate],
        start_date=date(2026, 1, 5),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=7),
    )
    return rotation


def _post(client, user, **data):
    client.force_login(user)
    return client.post(URL, data)


def _later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


# --- who sees the page ---------------------------------------------------------------------


def test_the_page_is_for_the_team_and_staff(client, owner, teammate, outsider, admin):
    assert client.get(URL).status_code == 302  # to the login
    for user, status in ((owner, 200), (teammate, 200), (admin, 200), (outsider, 403)):
        client.force_login(user)
        assert client.get(URL).status_code == status, user
    client.force_login(outsider)
    assert "Only members of Ledger" in client.get(URL).content.decode()
    client.force_login(owner)
    assert client.get("/teams/nope/settings/").status_code == 404


def test_owners_get_forms_members_read(client, owner, teammate, rotation):
    client.force_login(owner)
    page = client.get(URL).content.decode()
    assert 'value="member-add"' in page and 'value="key-create"' in page
    assert "/account/tokens/" in page  # her own API tokens are one link away
    client.force_login(teammate)
    page = client.get(URL).content.decode()
    assert 'value="member-add"' not in page and 'value="key-create"' not in page
    assert 'value="override-add"' in page  # a member may put herself on call


def test_the_team_page_links_the_settings_for_its_people(client, owner, outsider):
    client.force_login(owner)
    assert URL in client.get("/teams/ledger/").content.decode()
    client.force_login(outsider)
    assert URL not in client.get("/teams/ledger/").content.decode()


# --- members -------------------------------------------------------------------------------


def test_owner_adds_by_user_name_or_e_mail(client, owner, make_user, team_a):
    make_user("uma")
    make_user("vic", email="Vic@Example.org")
    response = _post(client, owner, action="member-add", member_user="uma", member_role="member")
    assert response.status_code == 302
    response = _post(
        client, owner, action="member-add", member_user="vic@example.org", member_role="owner"
    )
    roles = dict(team_a.memberships.values_list("user__username", "role"))
    assert roles["uma"] == "member" and roles["vic"] == "owner"
    assert "vic is now in Ledger (Owner)" in client.get(URL).content.decode()
    assert AuditEvent.objects.filter(action="role.changed", actor=owner).count() == 2


def test_a_refused_member_form_keeps_what_was_typed(client, owner):
    response = _post(client, owner, action="member-add", member_user="nobody-here")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Nobody is called" in page and 'value="nobody-here"' in page


def test_members_and_outsiders_cannot_change_people(client, teammate, outsider, make_user):
    make_user("uma")
    response = _post(client, teammate, action="member-add", member_user="uma")
    assert response.status_code == 400
    assert "Only the team&#x27;s owners" in response.content.decode()
    assert _post(client, outsider, action="member-add", member_user="uma").status_code == 403
    assert not Membership.objects.filter(user__username="uma").exists()


def test_roles_change_but_the_last_owner_stays(client, owner, teammate, team_a):
    response = _post(client, owner, action="member-role", member="olivia", role="member")
    assert response.status_code == 400
    assert "keeps at least one owner" in response.content.decode()
    _post(client, owner, action="member-role", member="tom", role="owner")
    assert team_a.memberships.get(user=teammate).role == "owner"
    _post(client, owner, action="member-role", member="olivia", role="member")
    assert team_a.memberships.get(user=owner).role == "member"


def test_removing_asks_first_and_never_takes_the_last_owner(client, owner, teammate, team_a):
    response = _post(client, owner, action="member-remove", member="tom")
    assert response.status_code == 200 and "Take tom out of Ledger?" in response.content.decode()
    assert team_a.memberships.filter(user=teammate).exists()  # only asked
    _post(client, owner, action="member-remove", member="tom", confirmed="yes")
    assert not team_a.memberships.filter(user=teammate).exists()
    response = _post(client, owner, action="member-remove", member="olivia", confirmed="yes")
    assert response.status_code == 400 and team_a.memberships.filter(user=owner).exists()


def test_staff_manage_any_team(client, admin, teammate, team_a):
    _post(client, admin, action="member-role", member="tom", role="owner")
    assert team_a.memberships.get(user=teammate).role == "owner"


# --- overrides -----------------------------------------------------------------------------


def test_owner_adds_an_override_in_her_zone_and_the_schedule_shows_it(
    client, owner, teammate, rotation
):
    response = _post(
        client,
        owner,
        action="override-add",
        override_rotation="ledger-primary",
        override_user="tom",
        override_from="2030-07-01T09:00",
        override_to="2030-07-02T09:00",
        override_zone="Europe/Berlin",
        override_reason="covering",
    )
    assert response.status_code == 302
    override = RotationOverride.objects.get()
    assert override.user == teammate and override.created_by == owner
    assert override.starts_at == datetime(2030, 7, 1, 7, 0, tzinfo=UTC)  # CEST is UTC+2
    assert AuditEvent.objects.filter(action="override.created", team=rotation.team).exists()
    page = client.get("/rotations/ledger-primary/").content.decode()
    assert "2030-07-01 09:00" in page and "covering" in page  # shown in the rotation's zone


def test_the_rotation_page_form_returns_to_the_rotation(client, teammate, rotation):
    client.force_login(teammate)
    page = client.get("/rotations/ledger-primary/").content.decode()
    assert 'value="override-add"' in page
    response = client.post(
        URL,
        {
            "action": "override-add",
            "override_rotation": "ledger-primary",
            "next_rotation": "ledger-primary",
            "override_user": "tom",
            "override_from": _later(1),
            "override_to": _later(2),
        },
    )
    assert response.status_code == 302 and response["Location"] == "/rotations/ledger-primary/"


def test_a_member_puts_only_herself_on_call(client, owner, teammate, outsider, rotation):
    base = {
        "action": "override-add",
        "override_rotation": "ledger-primary",
        "override_from": _later(1),
        "override_to": _later(2),
    }
    response = _post(client, teammate, override_user="olivia", **base)
    assert response.status_code == 400 and "only herself" in response.content.decode()
    assert _post(client, outsider, override_user="oscar", **base).status_code == 403
    assert _post(client, teammate, override_user="tom", **base).status_code == 302
    assert RotationOverride.objects.get().user == teammate


def test_overrides_refuse_bad_times_and_keep_the_input(client, owner, rotation):
    response = _post(
        client,
        owner,
        action="override-add",
        override_rotation="ledger-primary",
        override_user="tom",
        override_from="2030-07-02T09:00",
        override_to="2030-07-01T09:00",
        override_reason="swap",
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "ends after it starts" in page and 'value="swap"' in page
    past = _post(
        client,
        owner,
        action="override-add",
        override_rotation="ledger-primary",
        override_user="tom",
        override_from="2020-01-01T09:00",
        override_to="2020-01-02T09:00",
    )
    assert past.status_code == 400 and not RotationOverride.objects.exists()


def test_override_removal_by_its_person_or_an_owner(client, owner, teammate, rotation):
    now = datetime.now(UTC)
    mine = override_add(
        rotation=rotation, user=teammate, starts_at=now, ends_at=now + timedelta(hours=4)
    )
    theirs = override_add(
        rotation=rotation,
        user=owner,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=2),
    )
    refused = _post(client, teammate, action="override-delete", override=theirs.pk, confirmed="yes")
    assert refused.status_code == 400
    asked = _post(client, teammate, action="override-delete", override=mine.pk)
    assert "Remove the override" in asked.content.decode()
    _post(client, teammate, action="override-delete", override=mine.pk, confirmed="yes")
    _post(client, owner, action="override-delete", override=theirs.pk, confirmed="yes")
    assert not RotationOverride.objects.exists()
    assert AuditEvent.objects.filter(action="override.deleted").count() == 2


# --- ingest keys and integrations ----------------------------------------------------------


def test_owner_creates_an_ingest_key_shown_once(client, owner, team_a):
    response = _post(client, owner, action="key-create", key_name="prod Airflow")
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    key = IngestKey.objects.get(team=team_a)
    raw = response.context["created"]["raw"]
    assert raw.startswith(key.key_prefix) and raw in response.content.decode()
    again = client.get(URL).content.decode()
    assert raw not in again and key.key_prefix in again


def test_owner_revokes_a_key_after_confirming(client, owner, team_a, team_b):
    key, _ = ingest_key_create(name="old", team=team_a)
    other, _ = ingest_key_create(name="theirs", team=team_b)
    asked = _post(client, owner, action="key-revoke", key=key.pk)
    assert "Revoke the ingest key" in asked.content.decode()
    _post(client, owner, action="key-revoke", key=key.pk, confirmed="yes")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEvent.objects.filter(action="ingest_key.revoked", actor=owner).exists()
    # Another team's key is not found through this team's page.
    assert _post(client, owner, action="key-revoke", key=other.pk).status_code == 404


def test_members_read_keys_but_do_not_create_or_revoke(client, teammate, outsider, team_a):
    key, raw = ingest_key_create(name="old", team=team_a)
    client.force_login(teammate)
    page = client.get(URL).content.decode()
    assert key.key_prefix in page and raw not in page
    assert _post(client, teammate, action="key-create", key_name="x").status_code == 400
    assert _post(client, teammate, action="key-revoke", key=key.pk).status_code == 400
    assert _post(client, outsider, action="key-revoke", key=key.pk).status_code == 403
    assert IngestKey.objects.count() == 1 and IngestKey.objects.get().revoked_at is None


def test_owner_creates_and_revokes_an_integration(client, owner, team_a):
    response = _post(
        client,
        owner,
        action="integration-create",
        integration_name="prod Alertmanager",
        integration_kind="alertmanager",
    )
    integration = Integration.objects.get(team=team_a)
    raw = response.context["created"]["raw"]
    assert raw.startswith(integration.token_prefix)
    assert "/api/v1/integrations/alertmanager/" in response.content.decode()
    _post(client, owner, action="integration-revoke", integration=integration.pk, confirmed="yes")
    integration.refresh_from_db()
    assert integration.revoked_at is not None
    actions = set(AuditEvent.objects.filter(actor=owner).values_list("action", flat=True))
    assert {"integration.created", "integration.revoked"} <= actions


def test_a_refused_integration_keeps_its_name(client, owner):
    response = _post(
        client, owner, action="integration-create", integration_name="mine", integration_kind="x"
    )
    assert response.status_code == 400 and 'value="mine"' in response.content.decode()


def test_another_teams_integration_is_not_found(client, owner, team_b):
    integration, _ = integration_create(name="risk", kind="webhook", team=team_b)
    response = _post(client, owner, action="integration-revoke", integration=integration.pk)
    assert response.status_code == 404


def test_unknown_actions_are_refused(client, owner):
    assert _post(client, owner, action="drop-tables").status_code == 400


# --- escalation policies -------------------------------------------------------------------


@pytest.fixture
def policy(team_a, rotation):
    return policy_save(
        slug="ledger-default",
        name="Ledger default",
        team=team_a,
        steps=[{"target": "rotation", "rotation": rotation, "wait": timedelta(minutes=5)}],
    )


def _steps(**rows):
    return {"action": "policy-steps", "policy": "ledger-default", **rows}


def test_owner_edits_a_policys_steps(client, owner, policy):
    client.force_login(owner)
    page = client.get(URL).content.decode()
    assert 'value="policy-steps"' in page and 'value="rotation:ledger-primary" selected' in page
    response = _post(
        client,
        owner,
        **_steps(
            **{
                "step-0-target": "rotation",
                "step-0-whom": "rotation:ledger-primary",
                "step-0-wait": "10",
                "step-1-target": "user",
                "step-1-whom": "user:olivia",
                "step-1-wait": "15",
                "step-2-target": "",
                "step-2-whom": "",
                "step-2-wait": "5",
                "policy_repeat": "2",
            }
        ),
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    steps = list(policy.steps.order_by("position"))
    assert [(s.target, s.wait) for s in steps] == [
        ("rotation", timedelta(minutes=10)),
        ("user", timedelta(minutes=15)),
    ]
    assert steps[1].user == owner and policy.repeat == 2
    event = AuditEvent.objects.get(action="policy.changed")
    assert event.detail["before"] == ["rotation:ledger-primary wait 300s"]


def test_a_refused_policy_keeps_the_rows_and_changes_nothing(client, owner, policy):
    response = _post(
        client,
        owner,
        **_steps(
            **{
                "step-0-target": "user",
                "step-0-whom": "rotation:ledger-primary",
                "step-0-wait": "7",
                "policy_repeat": "0",
            }
        ),
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert (
        "Step 1: A &#x27;user&#x27; step needs a user" in page
        and 'value="7"' in page
        and "<details" in page
    )
    assert list(policy.steps.values_list("target", flat=True)) == ["rotation"]


def test_members_and_outsiders_do_not_edit_policies(client, teammate, outsider, policy):
    client.force_login(teammate)
    assert 'value="policy-steps"' not in client.get(URL).content.decode()
    assert "Ledger default" in client.get(URL).content.decode()  # read only
    assert _post(client, teammate, **_steps(policy_repeat="3")).status_code == 400
    assert _post(client, outsider, **_steps(policy_repeat="3")).status_code == 403
    policy.refresh_from_db()
    assert policy.repeat == 0


def test_the_page_reads_in_queries_that_do_not_grow_with_the_team(
    client, owner, make_user, team_a, rotation, policy
):
    client.force_login(owner)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL).status_code == 200
        return len(queries)

    before = count()
    now = datetime.now(UTC)
    for i in range(4):
        person = make_user(f"extra{i}")
        Membership.objects.create(team=team_a, user=person)
        ingest_key_create(name=f"k{i}", team=team_a)
        integration_create(name=f"i{i}", kind="webhook", team=team_a)
        override_add(
            rotation=rotation,
            user=person,
            starts_at=now + timedelta(days=i),
            ends_at=now + timedelta(days=i, hours=2),
        )
    assert count() == before


# --- shift swaps ---------------------------------------------------------------------------


def _offer(user: str, days: int = 1) -> dict:
    return {
        "action": "swap-offer",
        "swap_rotation": "ledger-primary",
        "swap_user": user,
        "swap_from": _later(days),
        "swap_to": _later(days + 1),
    }


def test_a_member_offers_her_shifts_and_another_takes_them(
    client, owner, teammate, outsider, rotation
):
    assert _post(client, teammate, **_offer("olivia")).status_code == 400  # not hers
    assert _post(client, outsider, **_offer("oscar")).status_code == 403
    assert _post(client, teammate, **_offer("tom")).status_code == 302
    swap = ShiftSwap.objects.get()
    assert swap.requester == teammate and swap.state == "open"
    refused = _post(client, teammate, action="swap-take", swap=swap.pk)  # her own offer
    assert refused.status_code == 400
    client.force_login(owner)
    assert "Take these shifts" in client.get("/rotations/ledger-primary/").content.decode()
    _post(client, owner, action="swap-take", swap=swap.pk)
    swap.refresh_from_db()
    assert swap.state == "taken" and swap.taker == owner
    # The schedule gives the taker the requester's shifts of the period.
    shifts = rotation_schedule(rotation, swap.starts_at, swap.ends_at)
    assert {s.user_id for s in shifts if s.user_id} <= {owner.pk}
    again = _post(client, owner, action="swap-take", swap=swap.pk)
    assert again.status_code == 400
    assert AuditEvent.objects.filter(action="swap.changed").count() == 2


def test_a_swap_is_cancelled_after_confirming_by_its_people(
    client, owner, teammate, make_user, team_a, rotation
):
    _post(client, teammate, **_offer("tom"))
    swap = ShiftSwap.objects.get()
    other = make_user("uma")
    Membership.objects.create(team=team_a, user=other)
    assert _post(client, other, action="swap-cancel", swap=swap.pk).status_code == 400
    asked = _post(client, teammate, action="swap-cancel", swap=swap.pk)
    assert "Cancel the swap of tom" in asked.content.decode()
    _post(client, teammate, action="swap-cancel", swap=swap.pk, confirmed="yes")
    swap.refresh_from_db()
    assert swap.state == "cancelled"


def test_staff_do_everything_on_any_team(client, admin, teammate, team_a, rotation, policy):
    assert _post(client, admin, action="key-create", key_name="staff key").status_code == 200
    created = _post(
        client,
        admin,
        action="integration-create",
        integration_name="staff AM",
        integration_kind="webhook",
    )
    assert created.status_code == 200
    override = _post(
        client,
        admin,
        action="override-add",
        override_rotation="ledger-primary",
        override_user="tom",
        override_from=_later(1),
        override_to=_later(2),
    )
    assert override.status_code == 302
    steps = _post(client, admin, **_steps(policy_repeat="1"))
    assert steps.status_code == 302
    assert IngestKey.objects.filter(team=team_a).count() == 1
    assert Integration.objects.filter(team=team_a).count() == 1
    assert RotationOverride.objects.get().created_by == admin


def test_outsiders_read_the_rotation_but_get_no_forms(client, outsider, rotation):
    client.force_login(outsider)
    page = client.get("/rotations/ledger-primary/").content.decode()
    assert "Overrides ahead" in page
    assert 'value="override-add"' not in page and 'value="swap-offer"' not in page
