"""Reads of a run's trace for its page, bounded whatever the trace's size: the tree's shape
from a few columns of each span (``SpanStub``), the error spans (the failing one may lie
beyond the spans the tree holds), and afterwards the whole rows of only the spans a page
shows (``fill_span_rows``). The run page of a 50,000-span trace is in ``bench/web.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import FloatField, Func, QuerySet
from django.db.models.fields.json import KT

from batchwatch.runs.models import Run, Span
from batchwatch.runs.selectors import (
    MAX_TRACE_SPANS,
    SpanNode,
    SpanTree,
    depth_first,
    span_rows,
)

# Error spans read besides the tree's (``trace_errors``): enough for any chain of errors.
MAX_ERROR_SPANS = 200


class EpochSeconds(Func):
    """A time as seconds since 1970 (a float): the run page reads thousands of start and end
    times, and a float is read several times faster than a datetime is made."""

    template = "(julianday(%(expressions)s) - 2440587.5) * 86400.0"  # SQLite
    output_field = FloatField()

    def get_db_converters(self, connection: Any) -> list[Any]:
        return []  # (both databases give a float; a converter is a call per row)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::float8"
        )


@dataclass(slots=True)
class SpanStub:
    """What the tree, the failing span and the Spark stage table's choice need of a span:
    its times as seconds since 1970, the stage facts as the attributes hold them (None when
    absent)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    start: float
    end: float
    status_code: int
    stage_id: Any
    stage_attempt: Any
    tasks: Any
    failed_tasks: Any
    skew: Any

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start) * 1000


STUB_FIELDS = ("trace_id", "span_id", "parent_span_id", "start", "end", "status_code")
STAGE_FACTS = {
    "stage_id": KT("attributes__spark.stage.id"),
    "stage_attempt": KT("attributes__spark.stage.attempt"),
    "tasks": KT("attributes__tasks"),
    "failed_tasks": KT("attributes__failed_tasks"),
    "skew": KT("attributes__skew_ratio"),
}


def _stubs(spans: QuerySet[Span]) -> list[SpanStub]:
    values = spans.annotate(
        start=EpochSeconds("start_time"), end=EpochSeconds("end_time"), **STAGE_FACTS
    ).values_list(*STUB_FIELDS, *STAGE_FACTS)
    return [SpanStub(*row) for row in values]


def stub_tree(stubs: list[SpanStub], *, root_span_id: str = "") -> SpanTree:
    """``runs.selectors.span_tree`` of stubs (their times are seconds), without the bars'
    places, which only the rows shown need."""
    flat, roots = depth_first(stubs, start="start", root_span_id=root_span_id)
    if not flat:
        return SpanTree(roots=[], flat=[], start=None, end=None, truncated=False)
    # (each shown row's bar is placed by the page: web.run_page.waterfall)
    start, end = min([s.start for s in stubs]), max([s.end for s in stubs])
    if len(flat) < len(stubs):  # below a root: its subtree's window
        start, end = min([n.span.start for n in flat]), max([n.span.end for n in flat])
    return SpanTree(
        roots=roots,
        flat=flat,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
        truncated=len(stubs) >= MAX_TRACE_SPANS,
    )


@dataclass
class TraceShape:
    """A run's trace for its page: the tree of stubs (the first ``MAX_TRACE_SPANS`` spans by
    start time, below the run's root span), the error spans the tree lacks, and how many
    spans the trace holds."""

    tree: SpanTree
    errors: list[SpanStub]
    span_count: int


def trace_shape(run: Run, *, errors: bool = True) -> TraceShape:
    """Two queries (three when the trace holds more than the tree; one less without
    ``errors``), through the indexes on (trace, start time) and on the trace's error spans:
    no read of every span."""
    if not run.trace_id:
        empty = SpanTree(roots=[], flat=[], start=None, end=None, truncated=False)
        return TraceShape(tree=empty, errors=[], span_count=0)
    spans = Span.objects.filter(trace_id=run.trace_id)
    stubs = _stubs(spans.order_by("start_time", "span_id")[:MAX_TRACE_SPANS])
    tree = stub_tree(stubs, root_span_id=run.root_span_id)
    count = spans.count() if len(stubs) >= MAX_TRACE_SPANS else len(stubs)
    if not errors or len(stubs) < MAX_TRACE_SPANS:  # (the tree holds every error span)
        return TraceShape(tree=tree, errors=[], span_count=count)
    known = {s.span_id for s in stubs}
    failed = _stubs(spans.filter(status_code=2).order_by("start_time")[:MAX_ERROR_SPANS])
    return TraceShape(
        tree=tree, errors=[e for e in failed if e.span_id not in known], span_count=count
    )


def fill_span_rows(nodes: list[SpanNode]) -> None:
    """Put each stub of ``nodes`` as a whole ``SpanRow`` (without events and resource,
    ``load_span_details``) in its place, in one query."""
    stubs = [n for n in nodes if isinstance(n.span, SpanStub)]
    if stubs:
        trace_ids = {n.span.trace_id for n in stubs}
        found = span_rows(
            Span.objects.filter(trace_id__in=trace_ids, span_id__in={n.span.span_id for n in stubs})
        )
        by_id = {(r.trace_id, r.span_id): r for r in found}
        for node in stubs:
            node.span = by_id.get((node.span.trace_id, node.span.span_id), node.span)
