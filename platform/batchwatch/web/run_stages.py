"""Spark's stage table on the run page (no query here): a row per stage span that carries the
event log importer's facts (tasks, failed tasks, skew, spill, GC). A short table is shown
whole; of a long one (a trace of thousands of stages) the failed, the longest and the most
skewed stages, chosen from the tree's stubs (``runs.selectors_trace``) before any whole row
is read, with the count of the others and the whole table a page at a time (``?stages=``)."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString

from batchwatch.runs.selectors import SpanNode, SpanTree
from batchwatch.runs.selectors_trace import SpanStub
from batchwatch.web import human
from batchwatch.web.waterfall_html import stages_html

STATUS_ERROR = 2
# A table of at most this many stages is shown whole.
WHOLE = 40
# Of a longer one: the failed stages (at most FAILED), the TOP longest and the TOP most
# skewed ones.
FAILED = 20
TOP = 10
# Rows of the whole table in a page (``?stages=<offset>``).
PAGE = 200
# Failed tasks as the stubs hold them when none failed (text on PostgreSQL), read without
# converting thousands of them.
NO_FAILURES = frozenset({None, "0", 0})


@dataclass
class StageRow:
    stage_id: str
    attempt: int
    name: str
    duration: str
    href: str  # its row in the waterfall (``#span-...``, or the page of the window holding it)
    tasks: str
    failed_tasks: int
    skew: float | None
    spill: str
    gc: str
    gc_share: str
    error: bool


@dataclass
class StagePlan:
    """The stage nodes a page shows, in stage order, with their place in the tree."""

    nodes: list[tuple[int, SpanNode]]
    total: int  # stages in the tree
    offset: int | None  # the whole table's page from this row; None: the chosen stages


@dataclass
class StageTable:
    rows: list[StageRow]
    total: int
    offset: int | None
    page: int = PAGE

    def __len__(self) -> int:
        return self.total

    @property
    def html(self) -> SafeString:
        """The rows, escaped (``web/waterfall_html.py``)."""
        return stages_html(self.rows)

    @property
    def chosen(self) -> bool:
        """Some stages chosen out of a longer table (not the whole table, nor a page of it)."""
        return self.offset is None and self.total > len(self.rows)

    @property
    def first(self) -> int:
        return (self.offset or 0) + 1

    @property
    def last(self) -> int:
        return (self.offset or 0) + len(self.rows)

    @property
    def previous(self) -> int | None:
        return None if not self.offset else max(0, self.offset - self.page)

    @property
    def next(self) -> int | None:
        if self.offset is None or self.offset + self.page >= self.total:
            return None
        return self.offset + self.page


def _facts(span: Any) -> tuple[Any, Any, Any, Any, Any] | None:
    """(stage id, attempt, tasks, failed tasks, skew) of a stage span, None for another."""
    if isinstance(span, SpanStub):
        if span.stage_id is None or span.tasks is None:
            return None
        return span.stage_id, span.stage_attempt, span.tasks, span.failed_tasks, span.skew
    a = span.attributes if isinstance(span.attributes, Mapping) else {}
    if "spark.stage.id" not in a or "tasks" not in a:
        return None
    return (
        a["spark.stage.id"], a.get("spark.stage.attempt"), a["tasks"], a.get("failed_tasks"),
        a.get("skew_ratio"),
    )  # fmt: skip


def plan_stages(tree: SpanTree, *, offset: int | None = None) -> StagePlan:
    """The stages to show: all of a short table, else the chosen ones, or with ``offset`` a
    page of the whole table; by stage id and attempt."""
    stages = [
        (facts, index, node)
        for index, node in enumerate(tree.flat)
        if (facts := _facts(node.span)) is not None
    ]
    total = len(stages)
    if offset is None and total > WHOLE:
        # (a choice by the largest, not a sort of thousands of stages)
        failed = [
            s
            for s in stages
            if s[2].span.status_code == STATUS_ERROR
            or (s[0][3] not in NO_FAILURES and number(s[0][3]))
        ]
        longest = heapq.nlargest(TOP, stages, key=lambda s: s[2].span.duration_ms)
        skewed = heapq.nlargest(TOP, stages, key=lambda s: number(s[0][4]))
        chosen = {id(s[2]) for s in (*failed[:FAILED], *longest, *skewed)}
        stages = [s for s in stages if id(s[2]) in chosen]
    stages.sort(key=lambda s: (number(s[0][0]), number(s[0][1])))
    if offset is not None:
        stages = stages[offset : offset + PAGE]
    return StagePlan(nodes=[(index, node) for _, index, node in stages], total=total, offset=offset)


def stage_table(plan: StagePlan, *, shown: set[int], window: int) -> StageTable:
    """The planned stages' rows once their spans are whole rows; ``shown``: the ids of the
    waterfall's nodes on the page (their rows are linked by anchor, the others' by the
    waterfall's page holding them, ``window`` rows each)."""
    rows = []
    for index, node in plan.nodes:
        span = node.span
        a = span.attributes if isinstance(span.attributes, Mapping) else {}
        if "spark.stage.id" not in a:
            continue  # (a span gone since its stub was read)
        gc_ms, run_ms = number(a.get("jvm_gc_time_ms")), number(a.get("executor_run_time_ms"))
        skew = a.get("skew_ratio")
        anchor = f"#span-{span.span_id}"
        rows.append(
            StageRow(
                stage_id=str(a["spark.stage.id"]),
                attempt=int(number(a.get("spark.stage.attempt"))),
                name=str(a.get("spark.stage.name") or ""),
                duration=human.duration_ms(span.duration_ms),
                href=anchor if id(node) in shown else f"?offset={index // window * window}{anchor}",
                tasks=str(a.get("tasks")),
                failed_tasks=int(number(a.get("failed_tasks"))),
                skew=float(skew) if isinstance(skew, int | float) else None,
                spill=human.size(number(a.get("spilled_bytes"))),
                gc=human.duration_ms(gc_ms),
                gc_share=f"{gc_ms / run_ms:.0%}" if run_ms else "",
                error=span.status_code == STATUS_ERROR,
            )
        )
    return StageTable(rows=rows, total=plan.total, offset=plan.offset)


def number(value: Any) -> float:
    """A fact as a number (text from the database, or JSON's); 0 for anything else."""
    if isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
