"""Config as code: a malformed node is a sentence with its path and line, exit code 2.

``alerts load-config`` and ``slo load`` read their YAML with ``.get`` and indexing; a list
where a mapping belongs used to end in an ``AttributeError`` traceback.
"""

from __future__ import annotations

import textwrap

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchwatch.alerts.loading import TOP_LEVEL
from batchwatch.alerts.models import Route
from batchwatch.notify.models import Channel


def _write(tmp_path, text: str, name: str = "config.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _alerts_fails(path, capsys) -> str:
    with pytest.raises(CommandError) as failure:
        call_command("alerts", "load-config", str(path))
    assert failure.value.returncode == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """\
            channels:
              - name: pager
                kind: log
                address: ops
              - [not, a, mapping]
            """,
            "channels[1] (line 5): expected a channel (a mapping), found a list",
        ),
        (
            """\
            channels: pager
            """,
            "channels (line 1): expected a list of channels, found the text 'pager'",
        ),
        (
            """\
            route:
              receiver: pager
              routes:
                - matchers: [3]
            """,
            "route.routes[0].matchers[0] (line 4): expected a matcher like 'team=\"ledger\"',"
            " found 3 (a number)",
        ),
        (
            """\
            route:
              routes:
                - matchers: 'team="ledger"'
            """,
            "route.routes[0].matchers (line 3): expected a list of matchers",
        ),
        (
            """\
            rotations:
              - slug: primary
                team: team-a
                layers: {start: 2026-01-01}
            """,
            "rotations[0].layers (line 4): expected a list of layers, found a mapping",
        ),
        (
            """\
            escalation_policies:
              - slug: default
                team: team-a
                steps:
                  - notify
            """,
            "escalation_policies[0].steps[0] (line 5): expected a step (a mapping),"
            " found the text 'notify'",
        ),
        (
            """\
            maintenance_windows:
              - name: nightly
                timezone: [UTC]
            """,
            "maintenance_windows[0].timezone (line 3): expected a text, found a list",
        ),
        (
            """\
            route:
              - receiver: pager
            """,
            "route (line 2): expected a route (a mapping), found a list",
        ),
    ],
)
def test_alerts_load_config_names_the_malformed_node(db, tmp_path, capsys, text, expected):
    err = _alerts_fails(_write(tmp_path, text), capsys)
    assert expected in err
    assert "Traceback" not in err
    assert Channel.objects.count() == 0 and Route.objects.count() == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "slos:\n  - slug: a\n    window: [28, runs]\n",
            "slos[0].window (line 3): expected a mapping",
        ),
        (
            "slos:\n  - slug: a\n    deadline: '06:00'\n",
            "slos[0].deadline (line 3): expected a mapping",
        ),
        ("slos:\n  - slug: a\n    labels: [x]\n", "slos[0].labels (line 3): expected a mapping"),
        ("slos:\n  - slug: a\n    team: {slug: x}\n", "slos[0].team (line 3): expected a text"),
        ("slos:\n  - slug: a\n    job: [x]\n", "slos[0].job (line 3): expected a text"),
    ],
)
def test_slo_load_names_the_malformed_node(db, tmp_path, capsys, text, expected):
    path = _write(tmp_path, text, "slos.yaml")
    with pytest.raises(CommandError) as failure:
        call_command("slo", "load", str(path))
    assert failure.value.returncode == 2
    err = capsys.readouterr().err
    assert f"{path}: {expected}" in err
    assert "Traceback" not in err


# --- A little fuzzing: random YAML structures in every section --------------------------------

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["", "x", "pager", "team-a", "5m", "2026-01-01T00:00:00Z", 'team="a"', "log"]),
)
_node = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "kind",
                    "address",
                    "slug",
                    "team",
                    "layers",
                    "steps",
                    "notify",
                    "matchers",
                    "routes",
                    "receiver",
                    "start",
                    "end",
                    "turn",
                    "participants",
                    "time_intervals",
                    "window",
                    "deadline",
                    "labels",
                    "objective",
                    "job",
                    "x",
                ]
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
_ALERT_SECTIONS = sorted(TOP_LEVEL)  # every section alerts load-config reads

_FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@_FUZZ
@given(document=st.dictionaries(st.sampled_from(_ALERT_SECTIONS), _node, max_size=3))
def test_fuzzed_alert_configs_never_raise_a_traceback(db, tmp_path, document):
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    try:
        call_command("alerts", "load-config", str(path), "--check")
    except CommandError as exc:
        assert exc.returncode == 2, exc


@_FUZZ
@given(slos=st.one_of(_node, st.lists(_node, max_size=3)))
def test_fuzzed_slo_files_never_raise_a_traceback(db, tmp_path, slos):
    path = tmp_path / "fuzz-slos.yaml"
    path.write_text(yaml.safe_dump({"slos": slos}), encoding="utf-8")
    try:
        call_command("slo", "load", str(path))
    except CommandError as exc:
        assert exc.returncode == 2, exc
