"""The job page's duration chart with its axes: duration ticks in human units, the dates of
the first and last run shown, and the normal range (p10 to p90) of the durations as a band.
Pure: works on the bars ``runs.selectors.duration_chart`` drew."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from batchwatch.runs.selectors import DurationBar
from batchwatch.web import human

# Tick spacings, in seconds, that read well; the smallest giving at most four ticks is used.
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
BAND_MIN_RUNS = 5  # fewer durations say nothing of a normal range


@dataclass(frozen=True)
class Tick:
    y: float  # in the chart's SVG units, 0 at the top
    percent: float  # from the bottom, for labels beside the chart
    label: str


@dataclass(frozen=True)
class DurationAxes:
    bars: list[DurationBar]
    ticks: list[Tick]
    p10: float | None
    p90: float | None
    band_y: float  # the band's top (p90) and height, in SVG units
    band_height: float
    first: datetime | None
    last: datetime | None


def _step(longest: float) -> float:
    for step in STEPS:
        if longest / step <= 4:
            return float(step)
    return float(86400 * max(1, round(longest / 86400 / 4)))


def _label(seconds: float) -> str:
    return human.duration(seconds) if seconds else "0"


def duration_axes(bars: list[DurationBar], *, height: int = 80) -> DurationAxes:
    """``bars`` (oldest first) with the axes of their chart, ``height`` SVG units tall."""
    durations = [b.run.duration_seconds for b in bars if b.run.duration_seconds is not None]
    longest = max(durations, default=0.0) or 1.0

    def y(seconds: float) -> float:
        return round(height - seconds / longest * height, 2)

    step = _step(longest)
    ticks = [
        Tick(y(k * step), round(k * step / longest * 100, 2), _label(k * step))
        for k in range(int(longest // step) + 1 if durations else 0)
    ]
    p10 = p90 = None
    band_y = band_height = 0.0
    if len(durations) >= BAND_MIN_RUNS:
        cuts = statistics.quantiles(durations, n=10, method="inclusive")
        p10, p90 = cuts[0], cuts[-1]
        band_y, band_height = y(p90), round(y(p10) - y(p90), 2)
    when = [b.run.started_at or b.run.scheduled_at for b in bars]
    return DurationAxes(
        bars=bars,
        ticks=ticks,
        p10=p10,
        p90=p90,
        band_y=band_y,
        band_height=band_height,
        first=when[0] if when else None,
        last=when[-1] if when else None,
    )
