"""The overview and team pages as a health grid (``web/grid.py``), and their boards alone,
which ``static/batchwatch/grid.js`` fetches every 30 s with the page's own query string."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from batchwatch.catalog.models import Engine, Team
from batchwatch.catalog.permissions import can_manage_jobs_of
from batchwatch.runs.selectors_grid import GRID_RUNS
from batchwatch.web.grid import HEALTH, HEALTH_LABELS, HealthGrid, health_grid

# grid.js swaps in only answers carrying this header (not a login or an error page).
BOARD_HEADER = "X-Batchwatch-Board"
MAX_SEARCH = 200
# Jobs per page, worst first: the overview's across the teams (each team's group shows those
# of its jobs on the page, the others counted), a team page's of that team.
OVERVIEW_PAGE = 50
TEAM_PAGE = 50


def _filters(request, *, team: str | None = None) -> dict[str, str]:
    """The filters of the query string, unknown values dropped (never an error)."""
    engine = request.GET.get("engine") or ""
    state = request.GET.get("state") or ""
    if team is None:
        team = (request.GET.get("team") or "")[:100].replace("\x00", "")
    return {
        "team": team,
        "engine": engine if engine in Engine.values else "",
        "state": state if state in HEALTH else "",
        "q": (request.GET.get("q") or "").strip()[:MAX_SEARCH].replace("\x00", ""),
    }


def _page_number(request) -> int:
    """The ``page`` of the query string; anything but a positive number is the first."""
    value = request.GET.get("page") or ""
    return int(value) if value.isdigit() and 0 < len(value) < 7 else 1


def _grid(request, filters: dict[str, str], *, page_size: int) -> HealthGrid:
    return health_grid(
        request.user,
        now=datetime.now(UTC),
        team=filters["team"] or None,
        state=filters["state"] or None,
        search=filters["q"] or None,
        engine=filters["engine"] or None,
        page=_page_number(request),
        page_size=page_size,
    )


def _context(request, filters: dict[str, str], *, page_size: int, **extra) -> dict:
    narrowing = {k: v for k, v in filters.items() if v and k != "team"}
    # The page links keep the filters; on the overview the team is one of them.
    kept = {k: v for k, v in filters.items() if v and (k != "team" or "team" not in extra)}
    return {
        "grid": _grid(request, filters, page_size=page_size),
        "team_query": urlencode(narrowing),
        "page_query": urlencode(kept),
        "grid_runs": GRID_RUNS,
        "filters": filters,
        "states": [(h, HEALTH_LABELS[h]) for h in HEALTH],
        "engines": Engine.choices,
        **extra,
    }


def _board(request, template: str, context: dict):
    response = render(request, template, context)
    response[BOARD_HEADER] = "grid"
    return response


@require_GET
@login_required
@never_cache
def overview(request):
    filters = _filters(request)
    context = _context(
        request, filters, page_size=OVERVIEW_PAGE, teams=Team.objects.order_by("name")
    )
    return render(request, "web/overview.html", context)


@require_GET
@login_required
@never_cache
def overview_board(request):
    """The overview's board alone, for its refresh."""
    context = _context(request, _filters(request), page_size=OVERVIEW_PAGE)
    return _board(request, "web/_grid_board.html", context)


@require_GET
@login_required
@never_cache
def team_page(request, slug: str):
    team = get_object_or_404(Team.objects.prefetch_related("memberships__user"), slug=slug)
    context = _context(
        request,
        _filters(request, team=slug),
        page_size=TEAM_PAGE,
        team=team,
        # Its members and staff see the settings page (its owners change it).
        settings_visible=can_manage_jobs_of(request.user, team),
    )
    return render(request, "web/team.html", context)


@require_GET
@login_required
@never_cache
def team_board(request, slug: str):
    """The team page's board alone, for its refresh."""
    team = get_object_or_404(Team, slug=slug)
    context = _context(request, _filters(request, team=slug), page_size=TEAM_PAGE, team=team)
    return _board(request, "web/_grid_board.html", context)
