"""``alerts load-config`` refuses what the admin refuses, at the node's path, writing nothing.

Channels, rotations and escalation policies are written through notify's and on-call's
services, which run the models' ``full_clean()``: the same rule, the same sentence, whether
the value comes from the admin's form or from the file.
"""

from __future__ import annotations

import textwrap
from datetime import date, time, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.forms import modelform_factory

from batchwatch.alerts.models import Route
from batchwatch.notify.models import Channel
from batchwatch.notify.services import channel_upsert
from batchwatch.oncall.models import EscalationPolicy, Rotation, RotationLayer
from batchwatch.oncall.services import layer_save, policy_save, rotation_upsert

VALID_TAIL = """
rotations:
  - slug: ledger-primary
    team: ledger
    timezone: Europe/London
    layers:
      - {start: "2026-11-02T09:00:00", turn: 7d, participants: [alice]}
escalation_policies:
  - slug: ledger-default
    team: ledger
    steps:
      - {notify: rotation, rotation: ledger-primary}
route:
  receiver: pager
  escalation_policy: ledger-default
"""


@pytest.fixture
def alice(make_user):
    return make_user("alice", email="alice@example.com")


def _load_fails(tmp_path, capsys, text: str) -> list[str]:
    path = tmp_path / "alerting.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(CommandError) as failure:
        call_command("alerts", "load-config", str(path))
    assert failure.value.returncode == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line.removeprefix(f"{path}: ") for line in err.splitlines()]


def _channel(kind: str = "log", address: str = "ops") -> str:
    return f"channels:\n  - {{name: pager, kind: {kind}, address: '{address}'}}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _channel(kind="pager") + VALID_TAIL,
            "channels[0].kind: Value 'pager' is not a valid choice.",
        ),
        (
            _channel(kind="webhook", address="ftp://hooks.example.com/x") + VALID_TAIL,
            "channels[0].address: ftp://hooks.example.com/x is not an http(s) URL with a host",
        ),
        (
            _channel() + VALID_TAIL.replace("Europe/London", "Mars/Olympus"),
            "rotations[0].timezone: 'Mars/Olympus' is not an IANA time zone; use a name like"
            " 'Europe/London' or 'America/New_York'.",
        ),
        (
            _channel() + VALID_TAIL.replace("ledger-primary", "ledger primary"),
            "rotations[0].slug: Enter a valid “slug”",
        ),
        (
            _channel() + VALID_TAIL.replace("turn: 7d", "turn: 10m"),
            "rotations[0].layers[0].turn: A turn lasts at least 15 minutes.",
        ),
        (
            _channel() + VALID_TAIL.replace("participants: [alice]", "participants: []"),
            "rotations[0].layers[0].participants: A layer needs at least one person.",
        ),
        (
            _channel()
            + VALID_TAIL.replace(
                "participants: [alice]}",
                "participants: [alice], restrictions: [{kind: hourly}]}",
            ),
            "rotations[0].layers[0].restrictions: restriction 1: kind must be 'daily' or 'weekly'",
        ),
        (
            _channel()
            + VALID_TAIL.replace(
                "    layers:",
                "    overrides:\n"
                "      - {user: alice, start: '2026-11-03T10:00:00', end: '2026-11-03T09:00:00'}\n"
                "    layers:",
            ),
            "rotations[0].overrides[0].end: An override ends after it starts.",
        ),
        (
            _channel() + VALID_TAIL.replace("    steps:", "    repeat: -1\n    steps:"),
            "escalation_policies[0].repeat: Ensure this value is greater than or equal to 0.",
        ),
    ],
    ids=[
        "channel-kind",
        "webhook-address",
        "rotation-timezone",
        "rotation-slug",
        "zero-ish-turn",
        "nobody-in-layer",
        "restrictions",
        "override-backwards",
        "negative-repeat",
    ],
)
def test_a_value_the_admin_refuses_is_refused_at_its_path(
    team_a, alice, tmp_path, capsys, text, expected
):
    errors = _load_fails(tmp_path, capsys, text)
    assert any(line.startswith(expected) for line in errors), errors
    # A refused node is one problem, not a cascade of "no such channel / rotation / policy".
    assert not any("no channel" in e or "no rotation" in e or "no policy" in e for e in errors)
    assert not Channel.objects.exists()
    assert not Rotation.objects.exists()
    assert not EscalationPolicy.objects.exists()
    assert not Route.objects.exists()


def test_the_valid_document_loads(team_a, alice, tmp_path, capsys):
    path = tmp_path / "alerting.yaml"
    path.write_text(_channel() + VALID_TAIL, encoding="utf-8")
    call_command("alerts", "load-config", str(path))
    rotation = Rotation.objects.get(slug="ledger-primary")
    assert rotation.timezone == "Europe/London"
    assert rotation.layers.get().participants.get().user == alice
    assert EscalationPolicy.objects.get().steps.get().rotation == rotation
    assert Route.objects.get().channels.get().name == "pager"


def test_a_refused_node_leaves_what_was_loaded_before_untouched(team_a, alice, tmp_path, capsys):
    channel = channel_upsert(name="pager", kind="log", address="ops")
    rotation = rotation_upsert(slug="ledger-primary", name="Old name", team=team_a)
    layer_save(
        rotation=rotation,
        participants=[alice],
        start_date=date(2026, 11, 2),
        handoff_time=time(9, 0),
        turn_length=timedelta(days=7),
    )
    policy = policy_save(
        slug="ledger-default",
        name="Ledger default",
        team=team_a,
        steps=[{"target": "rotation", "rotation": rotation}],
    )
    root = Route.objects.create(name="root", escalation_policy=policy)
    root.channels.set([channel])
    # The rotation, policy and route that follow the refused channel are valid: they are
    # written and then undone with the rest.
    renamed = VALID_TAIL.replace("    timezone:", "    name: New name\n    timezone:")
    text = _channel(kind="webhook", address="http://169.254.169.254/latest") + renamed
    errors = _load_fails(tmp_path, capsys, text)
    assert errors[0].startswith("channels[0].address: 169.254.169.254 is a link-local address")
    channel.refresh_from_db()
    rotation.refresh_from_db()
    assert (channel.kind, channel.address) == ("log", "ops")
    assert (rotation.name, rotation.timezone) == ("Old name", "UTC")
    assert RotationLayer.objects.filter(rotation=rotation).count() == 1
    assert list(Route.objects.values_list("name", flat=True)) == ["root"]
    assert Route.objects.get().channels.get() == channel


def _admin_form_errors(model, data: dict) -> dict:
    """What the admin's change form (a ModelForm of the model) says about ``data``."""
    form = modelform_factory(model, fields="__all__")(data=data)
    assert not form.is_valid()
    return form.errors


def test_the_admin_and_the_loader_say_the_same_sentence(team_a, alice, tmp_path, capsys):
    errors = _load_fails(
        tmp_path,
        capsys,
        _channel(kind="webhook", address="http://10.0.0.5/x")
        + VALID_TAIL.replace("Europe/London", "Mars/Olympus"),
    )
    channel_form = _admin_form_errors(
        Channel, {"name": "pager", "kind": "webhook", "address": "http://10.0.0.5/x"}
    )
    rotation_form = _admin_form_errors(
        Rotation,
        {"slug": "ledger-primary", "name": "P", "team": team_a.pk, "timezone": "Mars/Olympus"},
    )
    assert f"channels[0].address: {channel_form['address'][0]}" in errors
    assert f"rotations[0].timezone: {rotation_form['timezone'][0]}" in errors


def test_the_admin_and_the_loader_refuse_the_same_turn(team_a, alice, tmp_path, capsys):
    errors = _load_fails(tmp_path, capsys, _channel() + VALID_TAIL.replace("turn: 7d", "turn: 5m"))
    rotation = rotation_upsert(slug="other", name="Other", team=team_a)
    layer_form = _admin_form_errors(
        RotationLayer,
        {
            "rotation": rotation.pk,
            "position": 0,
            "start_date": "2026-11-02",
            "handoff_time": "09:00",
            "turn_length": "00:05:00",
            "restrictions": "[]",
        },
    )
    assert f"rotations[0].layers[0].turn: {layer_form['turn_length'][0]}" in errors


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "maintenance_windows:\n"
            "  - {name: n, timezone: Mars/Olympus, start: '2026-11-22T02:00:00', duration: 1h}\n",
            "maintenance_windows[0].start: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            _channel() + VALID_TAIL.replace("    steps:", "    repeat: often\n    steps:"),
            "escalation_policies[0].repeat: invalid literal for int()",
        ),
    ],
    ids=["maintenance-zone", "repeat-not-a-number"],
)
def test_values_that_used_to_end_in_a_traceback_are_path_errors(
    team_a, alice, tmp_path, capsys, text, expected
):
    errors = _load_fails(tmp_path, capsys, text)
    assert any(line.startswith(expected) for line in errors), errors


INTERVALS = """
time_intervals:
  - name: {name}
    time_intervals: [{{weekdays: ["monday:friday"]}}]
route:
  active_time_intervals: [{reference}]
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            INTERVALS.format(name="business hours", reference="business hours"),
            "time_intervals[0].name: Enter a valid “slug”",
        ),
        (
            INTERVALS.format(name="weekdays", reference="weekdays").replace(
                "route:", "  - {name: weekdays, time_intervals: []}\nroute:"
            ),
            "time_intervals[1].name: Time interval with this Name already exists.",
        ),
        (
            "maintenance_windows:\n"
            "  - {name: n, timezone: Mars/Olympus, start: '2026-11-22T02:00:00Z',"
            " matchers: ['team=\"ledger\"']}\n",
            "maintenance_windows[0].timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            "maintenance_windows:\n  - {name: n, start: '2026-11-22T02:00:00Z'}\n",
            "maintenance_windows[0].matchers: This field cannot be blank.",
        ),
    ],
    ids=["interval-name", "interval-twice", "window-zone", "window-without-matchers"],
)
def test_alerting_rows_are_checked_as_the_admin_checks_them(db, tmp_path, capsys, text, expected):
    errors = _load_fails(tmp_path, capsys, text)
    assert any(line.startswith(expected) for line in errors), errors
    assert not any("no time interval" in e for e in errors)
    assert not Route.objects.exists()
