"""A job's squares on the health grid as HTML, built here rather than in a template loop: the
team page shows every job of the team, fourteen squares each, and Django's template engine
spends several times as long per square (a link, two dates, a title) as joining strings does.

The markup is that of ``templates/web/_grid_team.html``, which includes it. A square's text
comes from our own fields (a state, flags, a time): nothing a sender wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from batchwatch.core.links import path_for
from batchwatch.runs.selectors_grid import Square

_EMPTY = '<span class="sq sq-empty" aria-hidden="true"></span>'
_FLAGS = (("late_start", "sq-late", "started late"), ("too_fast", "sq-fast", "too fast"),
          ("overran", "sq-overran", "overran"))  # fmt: skip


def _when(value: datetime | None, zone: tzinfo) -> str:
    if value is None:
        return ""
    local = value.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname() or ''}".rstrip()


def squares_html(squares: Sequence[Square | None]) -> SafeString:
    """``<a class="sq sq-<state> [sq-late] [sq-fast] [sq-overran]">`` per run (its time and
    state in its title and label), an empty square for each missing one."""
    parts = []
    zone = timezone.get_current_timezone()  # (once: a page has hundreds of squares)
    for run in squares:
        if run is None:
            parts.append(_EMPTY)
            continue
        flags = [(css, words) for field, css, words in _FLAGS if getattr(run, field)]
        classes = " ".join(["sq", f"sq-{run.state}", *(css for css, _ in flags)])
        when = _when(run.scheduled_at or run.started_at, zone)
        words = [run.state, *(w for _, w in flags)]
        title = escape(f"{when} · {' · '.join(words)}")
        label = escape(f"{when}: {', '.join(words)}")
        href = escape(path_for("web:run", run.id))
        parts.append(
            f'<a href="{href}" class="{escape(classes)}" title="{title}" aria-label="{label}"></a>'
        )
    return mark_safe("".join(parts))  # noqa: S308 (every part escaped above)
