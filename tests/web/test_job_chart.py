"""The job page's duration chart: ticks in human units, the normal range (p10 to p90)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from batchwatch.runs.selectors import duration_chart
from batchwatch.web.job_chart import duration_axes

START = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


def _runs(durations):
    """Newest first, as the page reads them."""
    runs = [
        SimpleNamespace(
            id=i,
            duration_seconds=d,
            started_at=START + timedelta(days=i),
            scheduled_at=None,
            state="succeeded",
        )
        for i, d in enumerate(durations)
    ]
    return list(reversed(runs))


def test_ticks_in_human_units_and_the_normal_range():
    axes = duration_axes(duration_chart(_runs([600, 660, 720, 780, 840, 900, 2716.1])))
    assert [t.label for t in axes.ticks] == ["0", "15m 00s", "30m 00s", "45m 00s"]
    assert axes.ticks[0].y == 80 and axes.ticks[0].percent == 0
    assert 0 < axes.ticks[-1].y < 80
    assert axes.p10 is not None and axes.p90 is not None
    assert 600 <= axes.p10 < axes.p90 <= 2716.1
    assert axes.band_height > 0 and axes.band_y >= 0
    assert (axes.first, axes.last) == (START, START + timedelta(days=6))


@pytest.mark.parametrize(
    ("durations", "labels"),
    [
        ([0.5, 0.8], ["0"]),
        ([3.0], ["0", "1s", "2s", "3s"]),
        ([7500.0], ["0", "1h 00m", "2h 00m"]),
    ],
)
def test_few_runs_get_ticks_but_no_band(durations, labels):
    axes = duration_axes(duration_chart(_runs(durations)))
    assert [t.label for t in axes.ticks] == labels
    assert axes.p10 is None and axes.band_height == 0


def test_no_runs_no_axes():
    axes = duration_axes([])
    assert axes.first is None and axes.p10 is None and axes.ticks == []
