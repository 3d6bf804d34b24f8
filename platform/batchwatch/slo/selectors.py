"""Reads of SLO state for pages: per job with burn-down points, per team in aggregate."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from batchwatch.slo.models import SLOState


@dataclass
class BurnDown:
    points: str  # SVG polyline points in a 0..300 x 0..100 box
    zero_y: float  # where "budget exhausted" lies


def burn_down(state: SLOState, *, width: int = 300, height: int = 100) -> BurnDown | None:
    """The error budget left after each judged run of the window, oldest first.

    Starts at 100% and steps down at each bad run; below the zero line, the budget is overspent.
    """
    history = state.history or []
    if not history or state.budget_total <= 0:
        return None
    remaining, values = 1.0, [1.0]
    for _, good in history:
        if not good:
            remaining -= 1 / state.budget_total
        values.append(max(remaining, -1.0))
    top, bottom = 1.0, min(-0.2, min(values))
    step = width / max(1, len(values) - 1)

    def y(value: float) -> float:
        return round((top - value) / (top - bottom) * height, 2)

    points = " ".join(f"{round(i * step, 2)},{y(v)}" for i, v in enumerate(values))
    return BurnDown(points=points, zero_y=y(0.0))


def job_slo_states(job_id: int) -> list[tuple[SLOState, BurnDown | None]]:
    states = SLOState.objects.filter(job_id=job_id).select_related("slo").order_by("slo__slug")
    return [(state, burn_down(state)) for state in states]


def slo_status_by_team() -> dict[int | None, dict[str, int]]:
    """``{team_id: {status: count}}`` over every job's SLO states, in one query."""
    out: dict[int | None, dict[str, int]] = {}
    for team_id, status, n in (
        SLOState.objects.values_list("job__owner_team_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        out.setdefault(team_id, {})[status] = n
    return out
