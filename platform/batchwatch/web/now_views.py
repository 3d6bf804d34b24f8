"""The Now page: what needs the signed-in person, refreshed in place by ``now.js``."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from batchwatch.web.now import now_board, now_reach

# now.js swaps in only answers carrying this header: a login page (the session expired)
# or an error page is never put in the board.
BOARD_HEADER = "X-Batchwatch-Board"


@require_GET
@login_required
@never_cache
def now_page(request):
    board = now_board(request.user, now=datetime.now(UTC))
    reach = now_reach(request.user, board)
    return render(request, "web/now.html", {"board": board, "reach": reach})


@require_GET
@login_required
@never_cache
def now_fragment(request):
    """The board alone, for the page's refresh every few seconds."""
    board = now_board(request.user, now=datetime.now(UTC))
    response = render(request, "web/now_board.html", {"board": board})
    response[BOARD_HEADER] = "now"
    return response
