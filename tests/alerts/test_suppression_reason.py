"""The structured suppression reason and the one inhibitor routing and the Slack card share."""

from __future__ import annotations

import pytest

from batchwatch.alerts.config import InhibitSpec
from batchwatch.alerts.matchers import parse_matchers
from batchwatch.alerts.models import Alert
from batchwatch.alerts.services import Inhibitor, SuppressionKind, SuppressionReason


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        (
            SuppressionReason(SuppressionKind.SILENCE, "3 (deploy) until 2026-11-22 04:00 UTC"),
            "silence 3 (deploy) until 2026-11-22 04:00 UTC",
        ),
        (
            SuppressionReason(SuppressionKind.MAINTENANCE, "1 (db) until 2026-11-22 05:00 UTC"),
            "maintenance 1 (db) until 2026-11-22 05:00 UTC",
        ),
        (
            SuppressionReason(SuppressionKind.INHIBITED, "failure hides lateness"),
            "inhibited by rule 'failure hides lateness'",
        ),
        (
            SuppressionReason(SuppressionKind.UPSTREAM, "upstream etl.load is failed"),
            "upstream etl.load is failed",
        ),
        (
            SuppressionReason(SuppressionKind.ROUTE_MUTED, "outside business hours"),
            "route muted (outside business hours)",
        ),
    ],
)
def test_a_reason_is_written_and_read_back_as_the_same_sentence(reason, text):
    assert reason.text == text
    assert SuppressionReason.parse(text) == reason
    assert text.startswith(SuppressionReason.prefix(reason.kind))


def test_no_stored_reason_reads_as_none():
    assert SuppressionReason.parse("") is None


def rule() -> InhibitSpec:
    return InhibitSpec(
        id=1,
        name="failure hides lateness",
        source=tuple(parse_matchers(["kind=failed"])),
        target=tuple(parse_matchers(["kind=late"])),
        equal=("job",),
    )


def alert(pk: int, **labels) -> Alert:
    return Alert(pk=pk, labels=labels)


def test_given_sources_inhibit_targets_with_equal_labels_only():
    inhibitor = Inhibitor([rule()], sources=[alert(1, kind="failed", job="a")])
    assert inhibitor.inhibited_by(alert(2, kind="late", job="a")) == "failure hides lateness"
    assert inhibitor.inhibited_by(alert(3, kind="late", job="b")) is None
    assert inhibitor.inhibited_by(alert(4, kind="failed", job="a")) is None  # not a target


def test_an_alert_does_not_inhibit_itself():
    both = InhibitSpec(
        id=2,
        name="any hides any",
        source=tuple(parse_matchers(['job=~".+"'])),
        target=tuple(parse_matchers(['job=~".+"'])),
        equal=("job",),
    )
    lonely = alert(1, job="a")
    assert not Inhibitor([both], sources=[lonely]).inhibits(both, lonely)
    assert Inhibitor([both], sources=[lonely, alert(2, job="a")]).inhibits(both, lonely)
