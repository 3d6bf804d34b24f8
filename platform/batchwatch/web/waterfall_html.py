"""The waterfall's rows (and the Spark stage table's) as HTML, built here rather than in a
template loop: a trace is kept up to
``runs.selectors.MAX_TRACE_SPANS`` spans, each a row with its details (status, attributes,
events, resource), and Django's template engine spends about ten times as long per row as
joining escaped strings does (the run page of a large trace is in ``bench/web_trace.py``).
Only the rows shown open (the failing span) and the first few carry their attributes, events
and resource; the others link to them (``web/run_views.py``'s span details, read in by
``static/batchwatch/run.js`` when a row opens), which keeps a page of 5,000 spans small.

Every text from a sender goes through ``escape``; the markup is that of
``templates/web/run_waterfall.html``, which includes it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import cache
from html import escape as _escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from batchwatch.web import human

if TYPE_CHECKING:  # (run_page builds its rows' HTML here)
    from batchwatch.web.run_page import WaterfallRow
    from batchwatch.web.run_stages import StageRow


_SPECIAL = re.compile(r"[&<>\"']")


def escape(value: Any) -> str:
    """``value`` as text for HTML (``&<>"'`` escaped, as Django's ``escape``); numbers, most
    attribute values, and text with nothing to escape skip the replacing."""
    kind = type(value)
    if kind is int or kind is float:
        return str(value)
    text = value if kind is str else str(value)
    return _escape(text, quote=True) if _SPECIAL.search(text) else text


def _pairs(items: Mapping[str, Any]) -> str:
    return "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items.items())


def _when(value: datetime, zone: Any, fmt: str) -> str:
    return value.astimezone(zone).strftime(fmt)


def _events(events: Iterable[Any]) -> str:
    items = []
    for event in events:
        if not isinstance(event, Mapping):
            continue
        attributes = event.get("attributes")
        pairs = (
            f'\n            <dl class="wf-attrs">{_pairs(attributes)}</dl>'
            if isinstance(attributes, Mapping) and attributes
            else ""
        )
        items.append(
            f'\n          <li><span class="muted">{escape(str(event.get("time", ""))[11:19])}'
            "</span>"
            f" <strong>{escape(event.get('name', ''))}</strong>{pairs}</li>"
        )
    return f'<h4>Events</h4>\n        <ol class="wf-event-list">{"".join(items)}\n        </ol>'


def row_html(row: WaterfallRow, *, zone: Any) -> str:
    """One span: its summary row (label, bar, duration) and its details."""
    span, node = row.span, row.node
    label = escape(row.label)
    name = (
        "" if row.label == span.name else f' <span class="muted wf-kind">{escape(span.name)}</span>'
    )
    mark = (
        '<span class="wf-mark" title="error" aria-hidden="true">✕</span> '
        '<span class="visually-hidden">error: </span>'
        if row.error
        else ""
    )
    events = span.events if isinstance(span.events, list) else []
    count = getattr(span, "event_count", None)
    count = len(events) if count is None else count
    badge = (
        f' <span class="wf-events" title="{count} event{"" if count == 1 else "s"}">◆{count}</span>'
        if count
        else ""
    )
    failing = ' wf-failing" open>' if row.failing else '">'
    # A row whose details are read when it opens gets its ids and times with them.
    shown = span.events is not None
    facts = [span_facts(span, zone=zone, duration=row.duration)] if shown else []
    if row.error:
        message = (
            f': <pre class="wf-message">{escape(span.status_message)}</pre>'
            if span.status_message
            else ""
        )
        facts.append(f'<dt>status</dt><dd class="wf-error-text">error{message}</dd>')
    if row.link is not None:
        facts.append(
            f'<dt>engine</dt><dd><a href="{escape(row.link.url)}" rel="noopener noreferrer" '
            f'target="_blank">Open in {escape(row.link.label)}</a></dd>'
        )
    more = details_html(span) if shown else _later(span)
    dl = f'<dl class="wf-facts">{"".join(facts)}</dl>' if facts else ""
    return (  # without indentation: on a page of 5,000 rows it would be a fifth of the page
        f'\n<details class="wf-span{failing}<summary class="wf-row" id="{escape(row.anchor)}">'
        f'<span class="wf-name" style="padding-left: {node.depth}rem" '
        f'title="{label}">{mark}{label}{name} '
        f'<span class="muted">{escape(span.service_name)}</span>{badge}</span>'
        f'<span class="wf-track"><span class="wf-bar'
        f'{" wf-error" if row.error else ""}" style="margin-left: {node.offset_pct:.2f}%; '
        f'width: {node.width_pct:.2f}%"></span></span>'
        f'<span class="wf-dur">{escape(row.duration)}</span></summary>'
        f'<div class="wf-details">{dl}{more}</div>'
        "</details>"
    )


def span_facts(span: Any, *, zone: Any, duration: str) -> str:
    """A span's id, its parent's and its times in the viewer's ``zone``."""
    return (
        f"<dt>span</dt><dd><code>{escape(span.span_id)}</code>"
        + (f" · parent <code>{escape(span.parent_span_id)}</code>" if span.parent_span_id else "")
        + "</dd>"
        f"<dt>time</dt><dd>{_when(span.start_time, zone, '%Y-%m-%d %H:%M:%S.%f')} → "
        f"{_when(span.end_time, zone, '%H:%M:%S.%f %Z')} ({escape(duration)})</dd>"
    )


def fragment_html(span: Any) -> str:
    """A row's details read when it opens: its ids and times, attributes, events, resource."""
    zone = timezone.get_current_timezone()
    facts = span_facts(span, zone=zone, duration=human.duration_ms(span.duration_ms))
    return f'<dl class="wf-facts">{facts}</dl>{details_html(span)}'


def details_html(span: Any) -> str:
    """A span's attributes, events and resource (a row's details; the span details
    fragment of ``web/run_views.py``)."""
    more = []
    if isinstance(span.attributes, Mapping) and span.attributes:
        more.append(
            f'<h4>Attributes</h4>\n        <dl class="wf-attrs">{_pairs(span.attributes)}</dl>'
        )
    if isinstance(span.events, list) and span.events:
        more.append(_events(span.events))
    if isinstance(span.resource, Mapping) and span.resource:
        more.append(f'<h4>Resource</h4>\n        <dl class="wf-attrs">{_pairs(span.resource)}</dl>')
    return "".join(more)


@cache
def _details_url() -> str:
    return reverse("web:span-details", args=["TRACE", "SPAN"])  # (reversed once: 5,000 rows)


def _later(span: Any) -> str:
    """Where a row's attributes, events and resource come from when it opens (``run.js``
    replaces the link with the fragment; without script, the link shows it)."""
    url = (
        _details_url()
        .replace("TRACE", quote(span.trace_id, safe=""))
        .replace("SPAN", quote(span.span_id, safe=""))
    )
    return f'<a class="wf-more" href="{escape(url)}">Attributes, events and resource</a>'


def rows_html(
    rows: list[WaterfallRow], *, total: int, offset: int, step: int, more_url: str = ""
) -> SafeString:
    """The rows shown, in the viewer's zone (the one ``accounts.middleware`` activated), with
    a line for each run of the tree's rows left out (above, between and below them) and one
    before the spans beyond the tree; ``more_url``: where ``run.js`` reads left-out rows."""
    zone = timezone.get_current_timezone()
    parts, last, beyond = [], -1, False
    for row in rows:
        if row.index is None and not beyond:
            beyond = True
            if last + 1 < total:
                parts.append(gap_html(first=last + 1, stop=total, step=step, more_url=more_url))
            parts.append('\n<p class="wf-gap wf-beyond">Further in the trace:</p>')
        elif row.index is not None and row.index > last + 1:
            up = row.index <= offset  # rows above the window: a link to the one before
            parts.append(
                gap_html(first=last + 1, stop=row.index, step=step, more_url=more_url, up=up)
            )
        parts.append(row_html(row, zone=zone))
        last = row.index if row.index is not None else last
    if not beyond and rows and last + 1 < total:
        parts.append(gap_html(first=last + 1, stop=total, step=step, more_url=more_url))
    return mark_safe("".join(parts))  # noqa: S308 - escaped above


def fragment_rows_html(rows: Iterable[WaterfallRow]) -> SafeString:
    """Rows read in by ``run.js`` (``run_views.waterfall_rows``), without gaps."""
    zone = timezone.get_current_timezone()
    return mark_safe("".join(row_html(row, zone=zone) for row in rows))  # noqa: S308 - escaped above


def gap_html(*, first: int, stop: int, step: int, more_url: str, up: bool = False) -> str:
    """The tree's rows ``first`` to ``stop`` left out: a link to the page of the window
    holding them (``?offset=``), which ``run.js`` reads in place when ``more_url`` is given
    (not for the rows above: the page shows them in order)."""
    hidden = stop - first
    if hidden <= 0:
        return ""
    noun = "span" if hidden == 1 else "spans"
    if not more_url:
        return (
            f'\n<p class="wf-gap"><span class="wf-gap-count">{hidden:,}</span> {noun} not shown</p>'
        )
    if up:
        href, words = f"?offset={max(0, stop - step)}#trace", "show the ones before"
        data = ""
    else:
        href, words = f"?offset={first}#trace", f"show the next {min(step, hidden):,}"
        data = f' data-src="{escape(more_url)}" data-offset="{first}" data-stop="{stop}"'
    return (
        f'\n<p class="wf-gap"{data}><span class="wf-gap-count">{hidden:,}</span> {noun} '
        f'{"above" if up else "not shown"} · <a class="wf-next" href="{href}">{words}</a></p>'
    )


def stage_html(stage: StageRow) -> str:
    """One row of the Spark stage table (``templates/web/run.html``)."""
    attempt = f' <span class="muted">(attempt {stage.attempt})</span>' if stage.attempt else ""
    failed = ' <span class="state state-failed">Failed</span>' if stage.error else ""
    row_class = ' class="stage-failed"' if stage.error else ""
    bad = " bad" if stage.failed_tasks else ""
    skewed = " warn" if stage.skew is not None and stage.skew >= 2 else ""
    skew = f"\N{MULTIPLICATION SIGN}{stage.skew:.1f}" if stage.skew is not None else "—"
    share = f' <span class="muted">({escape(stage.gc_share)})</span>' if stage.gc_share else ""
    href, stage_id = escape(stage.href), escape(stage.stage_id)
    return (
        f"\n<tr{row_class}>"
        f'<td><a href="{href}">{stage_id}{attempt}</a></td>'
        f'<td class="stage-name">{escape(stage.name or "—")}{failed}</td>'
        f'<td class="num">{escape(stage.duration)}</td>'
        f'<td class="num">{escape(stage.tasks)}</td>'
        f'<td class="num{bad}">{stage.failed_tasks}</td>'
        f'<td class="num{skewed}">{skew}</td>'
        f'<td class="num">{escape(stage.spill)}</td>'
        f'<td class="num">{escape(stage.gc)}{share}</td>'
        "</tr>"
    )


def stages_html(stages: Iterable[StageRow]) -> SafeString:
    return mark_safe("".join(stage_html(stage) for stage in stages))  # noqa: S308 - escaped above
