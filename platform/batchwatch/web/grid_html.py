"""The health grid's rows, squares, team facts, counts and other teams as HTML, built here
rather than in template loops: a page shows fifty jobs of up to fifty teams, fourteen squares
each, and Django's template engine spends several times as long per value (a lookup, a
filter, a date through the active time zone) as joining strings does: on the overview of a
large catalog it was most of the page's time.

The markup is that of ``templates/web/_grid_team.html`` and ``_grid_board.html`` (the other
teams, through ``templatetags/bw_grid.py``), which include it. Every value is escaped here
(``html.escape``, as the template's autoescaping would): job names, incident titles and
people's names are text others chose.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from batchwatch.core.links import path_for, paths_by_id
from batchwatch.runs.selectors_grid import Square

if TYPE_CHECKING:
    from batchwatch.web.grid import GridJob, GridTeam

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
    run_path = paths_by_id("web:run")
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
        href = escape(run_path(run.id))
        parts.append(
            f'<a href="{href}" class="{escape(classes)}" title="{title}" aria-label="{label}"></a>'
        )
    return mark_safe("".join(parts))  # noqa: S308 (every part escaped above)


# Django's date formats "c", "Y-m-d H:i T" and "D H:i T" of a time in the active zone.
def _iso(local: datetime) -> str:
    return local.isoformat()


def _full(local: datetime) -> str:
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}"


def _short(local: datetime) -> str:
    return f"{local:%a %H:%M} {local.tzname() or ''}"


def counts_html(counts: list[tuple[str, str, int]], *, all_ok: bool) -> SafeString:
    """A team's jobs by health (``GridTeam.counts``), or "all OK" when none is unwell and
    ``all_ok``."""
    parts = [
        f'<span class="gstate gstate-{escape(value)}">{n} {escape(label.lower())}</span> '
        for value, label, n in counts
    ]
    if not parts and all_ok:
        parts.append('<span class="gstate gstate-ok">all OK</span>')
    return mark_safe("".join(parts))  # noqa: S308 (every part escaped above)


def facts_html(group: GridTeam) -> SafeString:
    """A team's on call (each rotation: who, until when) and its first three open incidents."""
    zone = timezone.get_current_timezone()
    oncall = []
    for entry in group.oncall:
        rotation = entry.rotation
        link = f'<a href="{escape(path_for("web:rotation", rotation.slug))}">'
        text = f'<span class="grid-oncall-entry">{link}{escape(rotation.name)}</a>: '
        if entry.user:
            name = entry.user.get_full_name() or entry.user.get_username()
            text += f"<strong>{escape(name)}</strong>"
            if entry.until:
                until = entry.until.astimezone(zone)
                text += (
                    f' <span class="muted">until <time datetime="{_iso(until)}">'
                    f"{escape(_short(until))}</time></span>"
                )
        else:
            text += '<span class="error">nobody</span>'
        oncall.append(text + "</span>")
    incidents = [
        f'<a href="{escape(path_for("web:incident", i.id))}" class="grid-incident">'
        f"#{i.id} {escape(Truncator(i.title).chars(60))}</a> "
        f'<span class="istate istate-{escape(i.state)}">{escape(i.state)}</span>'
        for i in group.incidents[:3]
    ]
    more = ""
    if len(group.incidents) > 3 and group.team:
        where = escape(path_for("web:incidents") + "?team=" + quote(group.team.slug, safe="/"))
        more = f' · <a href="{where}">all {len(group.incidents)}</a>'
    return mark_safe(  # noqa: S308 (every part escaped above)
        '<div class="grid-team-facts">\n'
        '    <div class="grid-oncall"><span class="grid-fact-name">On call</span>\n      '
        + (" · ".join(oncall) or '<span class="muted">no rotation</span>')
        + '\n    </div>\n    <div class="grid-incidents"><span class="grid-fact-name">'
        "Open incidents</span>\n      "
        + (" · ".join(incidents) or '<span class="muted">none</span>')
        + more
        + "\n    </div>\n  </div>"
    )


def row_html(row: GridJob) -> SafeString:
    """One job's row: its name and kind, last and next run, health, squares, the occurrence
    due now and its open incident."""
    zone = timezone.get_current_timezone()
    job = row.job
    inactive = not job.is_active
    head = (
        f'<tr class="grid-row grid-row-{escape(row.health)}{" inactive" if inactive else ""}"'
        f' data-job="{escape(job.key)}">\n        <th scope="row" class="grid-job">\n'
        f'          <a href="{escape(row.url)}">{escape(job.namespace)}/<strong>'
        f"{escape(job.name)}</strong></a>"
        + (' <span class="chip muted">inactive</span>' if inactive else "")
        + f'\n          <div class="grid-when"><span class="engine engine-{escape(job.engine)}">'
        f"{escape(job.get_engine_display())}</span> "
        f'<span class="tier tier-{job.tier}" title="{escape(job.get_tier_display())}">'
        f"T{job.tier}</span>\n            " + _when_html(row, zone) + "</div>\n        </th>\n"
    )
    health = f'<span class="gstate gstate-{escape(row.health)}">{escape(row.health_label)}</span>'
    if row.slo_status:
        health += f' <span class="chip judge">SLO {escape(row.slo_status)}</span>'
    incident = '<span class="muted">—</span>'
    if row.incident:
        i = row.incident
        incident = (
            f'<a href="{escape(row.incident_url)}" title="{escape(i.title)}">#{i.id}</a> '
            f'<span class="istate istate-{escape(i.state)}">{escape(i.state)}</span>'
        )
    return mark_safe(  # noqa: S308 (every part escaped above)
        f"{head}        <td>{health}</td>\n"
        f'        <td><div class="squares">{row.squares_html}</div></td>\n'
        f'        <td class="grid-due">{_due_html(row, zone)}</td>\n'
        f"        <td>{incident}</td>\n      </tr>\n"
    )


def _when_html(row: GridJob, zone: tzinfo) -> str:
    """ "last run <ago>" (or none yet), then " · next <in>" (or on demand)."""
    last = row.runs.last_run
    if last:
        started = last.started_at.astimezone(zone)
        text = (
            f'last run <a href="{escape(row.last_run_url)}"><time datetime="{_iso(started)}"'
            f' title="{escape(_full(started))}">{escape(row.last_run_ago)}</time></a>'
        )
    else:
        text = '<span class="muted">no runs yet</span>'
    next_in = row.next_in
    if next_in and row.next_expected is not None:
        upcoming = row.next_expected.astimezone(zone)
        text += (
            f' · next <time datetime="{_iso(upcoming)}" title="{escape(_full(upcoming))}">'
            f"{escape(next_in)}</time>"
        )
    elif not row.job.schedule_cron:
        text += ' · <span class="muted">on demand</span>'
    return text


def _due_html(row: GridJob, zone: tzinfo) -> str:
    """The occurrence due now, for when, and when it becomes missed."""
    o = row.occurrence
    if o is None:
        if row.job.schedule_cron:
            return '<span class="muted">nothing due yet</span>'
        return '<span class="muted">—</span>'
    scheduled = o.run.scheduled_at.astimezone(zone)
    missed = ""
    if o.deadline:
        missed = f"; missed {escape(row.deadline_in)}" if o.deadline > row.now else "; missed now"
    return (
        f'<a href="{escape(row.occurrence_url)}" class="occ occ-{escape(o.state)}">'
        f"{escape(o.label)}</a>\n"
        f'          <div class="muted">for <time datetime="{_iso(scheduled)}">'
        f"{escape(_short(scheduled))}</time>{missed}</div>\n          "
    )


def others_html(groups: Sequence[GridTeam], team_query: str) -> SafeString:
    """The teams with no job on the page (``HealthGrid.others``) as list items: a link to
    each (keeping the filters, ``team_query``), its jobs by health and how many it has."""
    items = []
    for group in groups:
        anchor = f' id="team-{escape(group.team.slug)}"' if group.team else ""
        href = escape(f"{group.path}?{'' if group.team else 'team=-&'}{team_query}")
        total = group.total
        count = f"{total} job{'' if total == 1 else 's'}" if total else "No jobs yet."
        items.append(
            f'<li class="grid-other grid-health-{escape(group.health)}"{anchor}>'
            f'<a href="{href}">{escape(group.name)}</a>\n'
            f'    <span class="health-summary">{group.others_counts_html}</span>\n'
            f'    <span class="count">{count}</span></li>\n  '
        )
    return mark_safe("".join(items))  # noqa: S308 (every part escaped above)
