"""The rotation layers API, persona by persona: staff (any team), the team's owner (olivia:
adds, changes, removes), its member (tom: reads, 403 on changes), an outsider (oscar of risk:
reads, 404 on another team's layers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from batchwatch.audit.models import AuditEvent
from batchwatch.oncall.models import RotationLayer
from batchwatch.oncall.selectors import rotation_oncall, rotations_with_layers
from batchwatch.oncall.services import layer_save, rotation_upsert

LAYERS = "/api/v1/rotation-layers/"
# A Tuesday of the second turn: olivia's week (handoffs Mondays 09:00 UTC from 2026-01-05).
AT = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def rotation(team_a, owner, teammate):
    rotation = rotation_upsert(slug="ledger-primary", name="Ledger primary", team=team_a)
    layer_save(
        rotation=rotation,
        participants=[owner, teammate],
        start_date=date(2026, 1, 5),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=7),
        name="weekly",
    )
    return rotation


def _oncall(rotation) -> int | None:
    return rotation_oncall(rotations_with_layers().get(pk=rotation.pk), AT).user_id


def _body(**changes) -> dict:
    body = {
        "rotation": "ledger-primary",
        "name": "days",
        "start_date": "2026-01-05",
        "handoff_time": "09:00",
        "turn_length": "1 00:00:00",
        "participants": ["tom"],
        "restrictions": [{"kind": "daily", "start": "08:00", "end": "18:00"}],
    }
    return {**body, **changes}


def test_everyone_signed_in_reads_layers(api_as, rotation, outsider, teammate):
    for user in (outsider, teammate):
        rows = api_as(user).get(LAYERS, {"rotation": "ledger-primary"}).json()["results"]
        assert [(r["name"], r["participants"], r["turn_length"]) for r in rows] == [
            ("weekly", ["olivia", "tom"], "7 00:00:00")
        ]
    assert api_as().get(LAYERS).status_code == 401


def test_owner_adds_a_layer_on_top_that_decides_who_is_on_call(api_as, rotation, owner, teammate):
    assert _oncall(rotation) == owner.pk
    response = api_as(owner).post(LAYERS, _body(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["position"] == 1 and response.json()["participants"] == ["tom"]
    assert _oncall(rotation) == teammate.pk  # 12:00 is inside the new layer's 08:00-18:00
    assert AuditEvent.objects.filter(action="layer.changed", actor=owner).count() == 1


def test_owner_changes_and_removes_a_layer(api_as, rotation, owner, teammate):
    layer = rotation.layers.get()
    client = api_as(owner)
    changed = client.patch(
        f"{LAYERS}{layer.pk}/", {"participants": ["tom", "olivia"]}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["name"] == "weekly"  # kept
    assert _oncall(rotation) == teammate.pk
    assert client.delete(f"{LAYERS}{layer.pk}/").status_code == 204
    assert not RotationLayer.objects.filter(pk=layer.pk).exists()
    assert _oncall(rotation) is None
    assert AuditEvent.objects.filter(action="layer.changed").count() == 2


def test_member_reads_but_cannot_change(api_as, rotation, teammate):
    layer = rotation.layers.get()
    client = api_as(teammate)
    assert client.post(LAYERS, _body(), format="json").status_code == 403
    assert client.patch(f"{LAYERS}{layer.pk}/", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"{LAYERS}{layer.pk}/").status_code == 403
    assert RotationLayer.objects.get().name == "weekly"


def test_outsider_gets_404_for_another_teams_layers(api_as, rotation, outsider):
    layer = rotation.layers.get()
    client = api_as(outsider)
    assert client.post(LAYERS, _body(), format="json").status_code == 404
    assert client.patch(f"{LAYERS}{layer.pk}/", {"name": "x"}, format="json").status_code == 404
    assert client.delete(f"{LAYERS}{layer.pk}/").status_code == 404
    assert RotationLayer.objects.count() == 1


def test_staff_change_any_team_and_bad_input_is_a_400(api_as, rotation, admin, outsider):
    client = api_as(admin)
    assert client.post(LAYERS, _body(), format="json").status_code == 201
    for bad in (
        {"participants": ["oscar"]},  # not in the team
        {"participants": []},
        {"participants": ["ghost"]},
        {"turn_length": "00:05:00"},
        {"turn_length": "400 00:00:00"},
        {"start_date": "1900-01-01"},
        {"restrictions": [{"kind": "hourly"}]},
        {"restrictions": [{"kind": "daily", "start": "25:00", "end": "09:00"}]},
        {"rotation": "nope"},
    ):
        response = client.post(LAYERS, _body(**bad), format="json")
        assert response.status_code == 400, (bad, response.content)
    assert RotationLayer.objects.count() == 2
