"""Rotation layers on the web: the team's owners and staff add, change and remove them (a
removal asks first); members and outsiders read them on the rotation page and are refused the
forms. A bad form comes back with what was typed. Personas from tests/conftest.py: owner olivia
and member tom of ledger, outsider oscar of risk, staff ada."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from batchwatch.audit.models import AuditEvent
from batchwatch.oncall.models import RotationLayer
from batchwatch.oncall.selectors import rotation_oncall, rotations_with_layers
from batchwatch.oncall.services import layer_save, rotation_upsert
from batchwatch.web.rotation_layers import parse_turn, turn_text

PAGE = "/rotations/ledger-primary/"
ADD = "/rotations/ledger-primary/layers/new/"
# A Tuesday of the first turn (handoffs Mondays 09:00 Berlin from 2026-01-05): olivia's.
AT = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)


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
        name="weekly",
        restrictions=[
            {"kind": "weekly", "start_day": 0, "start": "00:00", "end_day": 6, "end": "24:00"}
        ],
    )
    return rotation


def _oncall(rotation) -> int | None:
    return rotation_oncall(rotations_with_layers().get(pk=rotation.pk), AT).user_id


def _form(**changes) -> dict:
    data = {
        "name": "days",
        "start_date": "2026-01-05",
        "handoff_time": "08:00",
        "turn": "1 week",
        "person": ["tom", "olivia", ""],
        "window_start": "08:00",
        "window_end": "18:00",
    }
    return {**data, **changes}


def _edit(rotation) -> str:
    return f"/rotations/ledger-primary/layers/{rotation.layers.get().pk}/"


def test_turn_lengths_in_words_and_short():
    assert parse_turn("1 week") == timedelta(weeks=1)
    assert parse_turn("12h") == timedelta(hours=12)
    assert parse_turn("3 days") == timedelta(days=3)
    assert parse_turn("1 day 12 hours") == timedelta(days=1, hours=12)
    assert turn_text(timedelta(days=1, hours=12)) == "1d12h"
    for bad in ("", "7", "soon", "1 fortnight"):
        with pytest.raises(ValueError):
            parse_turn(bad)


def test_everyone_sees_layers_only_owners_get_the_links(
    client, rotation, teammate, outsider, owner
):
    for user in (teammate, outsider):
        client.force_login(user)
        page = client.get(PAGE).content.decode()
        assert "weekly" in page and "olivia, tom" in page
        assert "Add a layer" not in page
        assert client.get(ADD).status_code == 403
        assert client.post(ADD, _form()).status_code == 403
        assert client.get(_edit(rotation) + "delete/").status_code == 403
        assert client.post(_edit(rotation) + "delete/").status_code == 403
    assert RotationLayer.objects.count() == 1
    client.force_login(owner)
    assert "Add a layer" in client.get(PAGE).content.decode()


def test_owner_adds_a_layer_that_decides_who_is_on_call(client, rotation, owner, teammate):
    assert _oncall(rotation) == owner.pk
    client.force_login(owner)
    response = client.post(ADD, _form(), follow=True)
    assert response.redirect_chain[-1][0] == PAGE
    assert "Next handoffs" in response.content.decode()
    new = RotationLayer.objects.get(name="days")
    assert new.position == 1 and new.turn_length == timedelta(weeks=1)
    assert [p.user.username for p in new.participants.order_by("position")] == ["tom", "olivia"]
    assert new.restrictions == [{"kind": "daily", "start": "08:00", "end": "18:00"}]
    assert _oncall(rotation) == teammate.pk  # 13:00 Berlin is inside the new layer's window
    assert AuditEvent.objects.filter(action="layer.changed", actor=owner).count() == 1


def test_owner_edits_keeping_other_restrictions(client, rotation, owner, teammate):
    client.force_login(owner)
    form = client.get(_edit(rotation)).content.decode()
    assert 'value="weekly"' in form and 'value="1w"' in form
    response = client.post(_edit(rotation), _form(name="weekly", window_start="", window_end=""))
    assert response.status_code == 302
    layer = rotation.layers.get()
    assert layer.restrictions == [
        {"kind": "weekly", "start_day": 0, "start": "00:00", "end_day": 6, "end": "24:00"}
    ]
    assert [p.user_id for p in layer.participants.order_by("position")] == [teammate.pk, owner.pk]
    assert _oncall(rotation) == teammate.pk


def test_a_bad_form_keeps_what_was_typed(client, rotation, owner, outsider):
    client.force_login(owner)
    for bad, says in (
        ({"turn": "soon"}, "soon"),
        ({"person": ["oscar"]}, "Not in the team: oscar"),
        ({"person": ["", ""]}, "needs at least one person"),
        ({"start_date": "2026-02-30"}, "not valid"),
        ({"window_start": "25:00", "window_end": "09:00"}, "HH:MM"),
        ({"turn": "5m"}, "at least 15 minutes"),
    ):
        response = client.post(ADD, _form(name="kept name", **bad))
        page = response.content.decode()
        assert response.status_code == 400, bad
        assert says in page and 'value="kept name"' in page, bad
    assert RotationLayer.objects.count() == 1


def test_removing_asks_first(client, rotation, owner):
    client.force_login(owner)
    url = _edit(rotation) + "delete/"
    question = client.get(url)
    assert "Remove the layer weekly" in question.content.decode()
    assert RotationLayer.objects.count() == 1
    assert client.post(url).status_code == 302
    assert RotationLayer.objects.count() == 0
    assert _oncall(rotation) is None


def test_staff_edit_any_team_and_another_rotations_layer_is_404(
    client, rotation, admin, owner, team_b
):
    other = rotation_upsert(slug="risk-primary", name="Risk", team=team_b)
    client.force_login(admin)
    assert client.post(ADD, _form()).status_code == 302
    layer = rotation.layers.first()
    assert client.get(f"/rotations/risk-primary/layers/{layer.pk}/").status_code == 404
    assert client.get("/rotations/risk-primary/layers/new/").status_code == 200
    client.force_login(owner)
    assert client.get(f"/rotations/{other.slug}/layers/new/").status_code == 403
