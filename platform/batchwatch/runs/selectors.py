"""Reads of the run ledger: run lists, a run with its spans as a tree, a whole trace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from django.db.models import Func, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from batchwatch.catalog.models import Job
from batchwatch.catalog.selectors import by_owner_team
from batchwatch.runs.models import Run, RunState, Signal, Span

MAX_TRACE_SPANS = 5000


def run_list(
    *,
    job_id: int | None = None,
    job_key: str | None = None,
    team: str | None = None,
    state: str | None = None,
    engine: str | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> QuerySet[Run]:
    runs = Run.objects.select_related("job__owner_team", "parent_run__job")
    if job_id is not None:
        runs = runs.filter(job_id=job_id)
    if job_key:
        runs = runs.filter(job__key=job_key)
    runs = by_owner_team(runs, team, path="job__owner_team")
    if state:
        runs = runs.filter(state=state)
    if engine:
        runs = runs.filter(job__engine=engine)
    if started_after:
        runs = runs.filter(started_at__gte=started_after)
    if started_before:
        runs = runs.filter(started_at__lt=started_before)
    return runs


class JSONArrayLength(Func):
    """How many items a JSON array column holds (0 for anything else), without decoding it."""

    function = "json_array_length"
    output_field = IntegerField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="COALESCE(json_array_length(%(expressions)s), 0)"
        )

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = (
            "CASE WHEN jsonb_typeof(%(expressions)s) = 'array' "
            "THEN jsonb_array_length(%(expressions)s) ELSE 0 END"
        )
        return self.as_sql(compiler, connection, template=template)


# What the run page reads of each span up front (``SpanRow``): not its events nor its
# resource, which only a row's details show (``load_span_details`` for the few rows
# shown open, the span details fragment for the others).
SPAN_ROW_FIELDS = (
    "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
    "status_code", "status_message", "service_name", "attributes",
)  # fmt: skip


@dataclass(slots=True)
class SpanRow:
    """A span as plain values (no model instance), as the run page's waterfall reads it."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: int
    start_time: datetime
    end_time: datetime
    status_code: int
    status_message: str
    service_name: str
    attributes: Any
    event_count: int
    events: Any = None  # None: not read (``load_span_details``)
    resource: Any = None

    @property
    def duration_ms(self) -> float:
        return (self.end_time - self.start_time).total_seconds() * 1000


def span_rows(spans: QuerySet[Span]) -> list[SpanRow]:
    """``spans`` as ``SpanRow``s: tuples from the database, their events counted there."""
    values = spans.annotate(event_count=JSONArrayLength("events")).values_list(
        *SPAN_ROW_FIELDS, "event_count"
    )
    return [SpanRow(*row) for row in values]


def load_span_details(rows: list[SpanRow]) -> None:
    """Read the events and resource of ``rows`` (a few: those whose details a page shows
    open) in one query."""
    if not rows:
        return
    wanted = {(r.trace_id, r.span_id): r for r in rows}
    found = Span.objects.filter(
        trace_id__in={r.trace_id for r in rows}, span_id__in={r.span_id for r in rows}
    ).values_list("trace_id", "span_id", "events", "resource")
    for trace_id, span_id, events, resource in found:
        if (row := wanted.get((trace_id, span_id))) is not None:
            row.events, row.resource = events, resource


def trace_span(trace_id: str, span_id: str) -> Span | None:
    return Span.objects.filter(trace_id=trace_id, span_id=span_id).first()


@dataclass(slots=True)
class SpanNode:
    """A span's place in its tree. A leaf's ``children`` is the one empty tuple, not a list
    of its own: the run page's tree holds thousands of nodes, most of them leaves, and every
    list is one more object for the garbage collector to follow (``depth_first``)."""

    span: Any  # a Span, or a SpanRow on the run page
    depth: int
    children: Sequence[SpanNode] = ()
    offset_pct: float = 0.0  # where the bar starts in the waterfall, % of the window
    width_pct: float = 0.0


@dataclass
class SpanTree:
    roots: list[SpanNode]
    flat: list[SpanNode]  # depth-first, for the waterfall
    start: datetime | None
    end: datetime | None
    truncated: bool


def depth_first(
    spans: Sequence[Any], *, start: str, root_span_id: str = ""
) -> tuple[list[SpanNode], list[SpanNode]]:
    """(every node depth-first, the roots) of spans linked by ``parent_span_id``, children
    in the order of their ``start`` attribute; only ``root_span_id``'s subtree when given."""
    by_id = {s.span_id: SpanNode(span=s, depth=0) for s in spans}
    children: dict[str, list[SpanNode]] = {}  # (only of the spans that have any)
    roots: list[SpanNode] = []
    for node in sorted(by_id.values(), key=attrgetter(f"span.{start}", "span.span_id")):
        parent = by_id.get(node.span.parent_span_id)
        if parent is not None and parent is not node:
            children.setdefault(parent.span.span_id, []).append(node)
        else:
            roots.append(node)  # the root, or a span whose parent we never received
    if root_span_id and root_span_id in by_id:
        roots = [by_id[root_span_id]]
    flat: list[SpanNode] = []
    stack = [(r, 0) for r in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        node.depth = depth
        flat.append(node)
        node.children = children.get(node.span.span_id, ())
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return flat, roots


def span_tree(spans: list[Span] | list[SpanRow], *, root_span_id: str = "") -> SpanTree:
    """Spans as a tree (depth-first), limited to ``root_span_id``'s subtree when it is given."""
    flat, roots = depth_first(spans, start="start_time", root_span_id=root_span_id)
    start = min((n.span.start_time for n in flat), default=None)
    end = max((n.span.end_time for n in flat), default=None)
    if start and end:
        window = max((end - start).total_seconds(), 1e-6)
        for node in flat:
            node.offset_pct = (node.span.start_time - start).total_seconds() / window * 100
            width = (node.span.end_time - node.span.start_time).total_seconds() / window * 100
            node.width_pct = max(width, 0.3)
    return SpanTree(
        roots=roots, flat=flat, start=start, end=end, truncated=len(spans) >= MAX_TRACE_SPANS
    )


def trace_spans(trace_id: str) -> list[Span]:
    return list(Span.objects.filter(trace_id=trace_id).order_by("start_time")[:MAX_TRACE_SPANS])


def trace_span_rows(trace_id: str) -> list[SpanRow]:
    spans = Span.objects.filter(trace_id=trace_id).order_by("start_time")[:MAX_TRACE_SPANS]
    return span_rows(spans)


def run_span_tree(run: Run, *, rows: bool = False) -> SpanTree:
    """The run's spans as a tree: ``Span``s, or with ``rows`` ``SpanRow``s (the run page)."""
    if not run.trace_id:
        return SpanTree(roots=[], flat=[], start=None, end=None, truncated=False)
    spans = trace_span_rows(run.trace_id) if rows else trace_spans(run.trace_id)
    return span_tree(spans, root_span_id=run.root_span_id)


@dataclass
class AttemptView:
    """One try of a run: its facts (runs.convergence.attempts_of) and its own spans."""

    facts: dict[str, Any]
    tree: SpanTree

    @property
    def attempt(self) -> int:
        attempt: int = self.facts["attempt"]
        return attempt

    @property
    def started_at(self) -> datetime | None:
        value = self.facts.get("started_at")
        return datetime.fromisoformat(value) if value else None

    @property
    def ended_at(self) -> datetime | None:
        value = self.facts.get("ended_at")
        return datetime.fromisoformat(value) if value else None


def run_attempts(
    run: Run, *, run_tree: SpanTree | None = None, rows: bool = False
) -> list[AttemptView]:
    """Each try of the run, oldest first, with the spans below the try's own span (earlier
    tries' spans are not in the run's waterfall, which starts at the latest try's span).
    The spans of every try's trace are read in one query; ``run_tree`` (the run's own) is
    reused for the try it shows; with ``rows`` the spans are ``SpanRow``s."""
    attempts = run.attempt_facts
    empty = SpanTree(roots=[], flat=[], start=None, end=None, truncated=False)
    wanted = {
        a["trace_id"]
        for a in attempts
        if a["trace_id"]
        and a["root_span_id"]
        and not (run_tree is not None and a["root_span_id"] == run.root_span_id)
    }
    by_trace: dict[str, list[Any]] = {}
    if wanted:
        spans = Span.objects.filter(trace_id__in=wanted).order_by("start_time")
        limited = spans[: MAX_TRACE_SPANS * len(wanted)]
        for span in span_rows(limited) if rows else limited:
            by_trace.setdefault(span.trace_id, []).append(span)
    views = []
    for facts in attempts:
        root = facts["root_span_id"]
        if run_tree is not None and root and root == run.root_span_id:
            tree = run_tree
        elif root and any(s.span_id == root for s in by_trace.get(facts["trace_id"], ())):
            tree = span_tree(by_trace[facts["trace_id"]], root_span_id=root)
        else:
            tree = empty
        views.append(AttemptView(facts=facts, tree=tree))
    return views


def run_detail(*, run_id: int) -> Run:
    return Run.objects.select_related("job__owner_team", "parent_run__job").get(pk=run_id)


def child_runs(run: Run) -> QuerySet[Run]:
    return run.child_runs.select_related("job").order_by("started_at", "id")


def runs_of_trace(trace_id: str) -> QuerySet[Run]:
    return Run.objects.filter(trace_id=trace_id).select_related("job").order_by("started_at")


def latest_run_by_job(job_ids: list[int]) -> dict[int, Run]:
    """Each job's most recent run, in one query (a subquery picks the id per job)."""
    latest = (
        Run.objects.filter(job=OuterRef("pk"))
        .exclude(state=RunState.SCHEDULED)  # an expected run is not a run that happened
        .order_by(Coalesce("started_at", "scheduled_at").desc(), "-id")
        .values("id")[:1]
    )
    ids = (
        Job.objects.filter(pk__in=job_ids)
        .annotate(last_run_id=Subquery(latest))
        .exclude(last_run_id=None)
        .values_list("last_run_id", flat=True)
    )
    return {run.job_id: run for run in Run.objects.filter(pk__in=list(ids))}


@dataclass
class DurationBar:
    run: Run
    x: float
    y: float
    width: float
    height: float


def duration_chart(runs: list[Run], *, width: int = 600, height: int = 80) -> list[DurationBar]:
    """Bars for an inline SVG chart of run durations, oldest on the left."""
    timed = [(r, seconds) for r in reversed(runs) if (seconds := r.duration_seconds) is not None]
    if not timed:
        return []
    longest = max(seconds for _, seconds in timed) or 1
    step = width / len(timed)
    bars = []
    for i, (run, seconds) in enumerate(timed):
        bar_height = max(2.0, seconds / longest * height)
        bars.append(
            DurationBar(
                run=run,
                x=i * step,
                y=height - bar_height,
                width=max(1.0, step * 0.8),
                height=bar_height,
            )
        )
    return bars


def job_runs_recent(job_id: int, *, now: datetime, limit: int = 50) -> list[Run]:
    """The job's latest occurrences and runs (due ones, and the next expected), newest first."""
    return list(
        Run.objects.filter(job_id=job_id)
        .exclude(state=RunState.SCHEDULED, scheduled_at__gt=now + timedelta(hours=24))
        .order_by(Coalesce("scheduled_at", "started_at").desc(), "-id")[:limit]
    )


def job_signals(job_id: int, *, limit: int = 20) -> list[Signal]:
    return list(Signal.objects.filter(job_id=job_id).select_related("run")[:limit])


@dataclass
class TimelineMark:
    run: Run
    x: float  # percent of the window
    when: datetime


def expected_vs_actual(runs: list[Run], *, now: datetime, days: int = 14) -> list[TimelineMark]:
    """Marks for a strip of the last ``days`` days: each occurrence at its scheduled (or
    start) time, coloured by what became of it."""
    start = now - timedelta(days=days)
    window = (now - start).total_seconds()
    marks = []
    for run in runs:
        when = run.scheduled_at or run.started_at
        if when is None or not start <= when <= now:
            continue
        marks.append(
            TimelineMark(run=run, x=(when - start).total_seconds() / window * 100, when=when)
        )
    return marks


@dataclass(frozen=True)
class RunsNeedingAttention:
    """What the ledger knows now about a set of teams' runs (the Now page)."""

    late: list[Run]  # not started past the start grace (``deadline``: when it becomes missed)
    overrunning: list[Run]  # still running past the job's maximum runtime
    missed: list[Run]  # never started, scheduled since ``since``
    on_time_jobs: int  # jobs with a run that succeeded on time since ``since``


def runs_needing_attention(
    team_ids: list[int] | None, *, now: datetime, since: datetime, limit: int = 50
) -> RunsNeedingAttention:
    """Late, overrunning and missed runs of the teams' jobs (``None``: every job), with their
    job and team, and how many jobs ran on time: four queries whatever the number of runs."""
    runs = Run.objects.select_related("job__owner_team")
    if team_ids is not None:
        runs = runs.filter(job__owner_team_id__in=team_ids)
    late = list(
        runs.filter(state=RunState.SCHEDULED, late_start=True, scheduled_at__gte=since).order_by(
            "scheduled_at", "id"
        )[:limit]
    )
    overrunning = list(
        runs.filter(state=RunState.RUNNING, overran=True).order_by("started_at", "id")[:limit]
    )
    missed = list(
        runs.filter(state=RunState.MISSED, scheduled_at__gte=since, scheduled_at__lte=now).order_by(
            "-scheduled_at", "-id"
        )[:limit]
    )
    on_time = (
        runs.filter(state=RunState.SUCCEEDED, ended_at__gte=since, late_start=False, overran=False)
        .values("job_id")
        .distinct()
        .count()
    )
    return RunsNeedingAttention(
        late=late, overrunning=overrunning, missed=missed, on_time_jobs=on_time
    )
