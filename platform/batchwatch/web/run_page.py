"""What the run page shows of a run's spans, computed once per page (no query here: the spans
come from ``runs.selectors``): each waterfall row's label, human duration, engine link and
whether it is the failing span; the time axis; Spark's stage table; Flink's checkpoints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.utils.safestring import SafeString

from batchwatch.alerts.selectors_hub import EngineLink
from batchwatch.catalog.models import Engine, Job
from batchwatch.runs.models import Run, RunState, Span
from batchwatch.runs.selectors import SpanNode, SpanRow, SpanTree
from batchwatch.web import human
from batchwatch.web.span_labels import span_label
from batchwatch.web.waterfall_html import rows_html, stages_html

STATUS_ERROR = 2
# Rows whose attributes, events and resource are in the page, besides the failing span's;
# the others' are read when opened (``web/waterfall_html.py``).
INLINE_DETAILS = 20
# Steps of the time axis, in seconds: the first giving at most MAX_TICKS ticks is used.
TICK_STEPS = (
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
    1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800,
    3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400,
)  # fmt: skip
MAX_TICKS = 6
# A tick this close to the right edge would spill into the duration column.
TICK_RIGHT_LIMIT = 94.0
AIRFLOW_RUN_PREFIXES = (
    "scheduled__",
    "manual__",
    "backfill__",
    "dataset_triggered__",
    "asset_triggered__",
)
HEX_ID = re.compile(r"[0-9a-fA-F]{16,}")
ISO_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})")
SHORT_ID_MAX = 24
# Run facts of Flink's checkpoints (ingest/flinkrest.py, flinkmetrics.py and the trace
# reporter's Checkpoint span), in the order the card lists them, with how each reads.
CHECKPOINT_FACTS: tuple[tuple[str, str, str], ...] = (
    ("checkpointing", "Checkpointing", "text"),
    ("checkpoints_completed", "Completed", "count"),
    ("checkpoints_failed", "Failed", "count"),
    ("last_checkpoint_id", "Latest checkpoint", "text"),
    ("last_checkpoint_status", "Its status", "text"),
    ("last_checkpoint_duration_ms", "Its duration", "millis"),
    ("last_checkpoint_size_bytes", "Its size", "bytes"),
    ("last_checkpoint_size", "Its size", "bytes"),
    ("restarts", "Restarts", "count"),
)


@dataclass
class WaterfallRow:
    node: SpanNode
    label: str
    duration: str
    anchor: str  # the row's element id, for links from the stage table and the failure box
    error: bool
    failing: bool = False
    link: EngineLink | None = None

    @property
    def span(self) -> Span | SpanRow:
        span: Span | SpanRow = self.node.span
        return span


@dataclass(frozen=True)
class AxisTick:
    x: float  # percent of the window
    label: str


@dataclass
class Waterfall:
    rows: list[WaterfallRow]
    ticks: list[AxisTick]
    length: str  # the window's length, human
    truncated: bool
    failing: WaterfallRow | None = None

    @property
    def rows_html(self) -> SafeString:
        """The rows with their details, escaped (``web/waterfall_html.py``)."""
        return rows_html(self.rows)


@dataclass
class StageRow:
    row: WaterfallRow
    stage_id: str
    attempt: int
    name: str
    tasks: str
    failed_tasks: int
    skew: float | None
    spill: str
    gc: str
    gc_share: str
    error: bool


@dataclass
class Checkpoints:
    facts: list[tuple[str, str]] = field(default_factory=list)


def waterfall(tree: SpanTree, *, job: Job, run: Run, prefix: str = "span") -> Waterfall:
    """The rows of ``tree`` with what each shows, the axis under the window, and the failing
    span (status error with no failing span below it, the first in the tree's order)."""
    rows = []
    for node in tree.flat:
        span = node.span
        rows.append(
            WaterfallRow(
                node=node,
                label=span_label(span),
                duration=human.duration_ms(span.duration_ms),
                anchor=f"{prefix}-{span.span_id}",
                error=span.status_code == STATUS_ERROR,
                link=span_engine_link(span, job=job, run=run),
            )
        )
    failing = failing_row(rows)
    if failing is not None:
        failing.failing = True
    window = (tree.end - tree.start).total_seconds() if tree.start and tree.end else 0.0
    return Waterfall(
        rows=rows,
        ticks=axis_ticks(window),
        length=human.duration(window) if rows else "",
        truncated=tree.truncated,
        failing=failing,
    )


def shown_open(wf: Waterfall) -> list[SpanRow]:
    """The spans whose details the page holds (the failing one and the first
    ``INLINE_DETAILS``) that still need their events and resource read."""
    rows = wf.rows[:INLINE_DETAILS] + ([wf.failing] if wf.failing is not None else [])
    return [r.span for r in rows if isinstance(r.span, SpanRow) and r.span.events is None]


def failing_row(rows: list[WaterfallRow]) -> WaterfallRow | None:
    """The failing span: the deepest of an error's chain (application → job → stage → task),
    and of several such chains the one that ended first (a Spark task killed because its
    stage failed ends after the task that failed it); on a tie, the first in the tree."""
    ends = [
        row
        for row in rows
        if row.error and not any(c.span.status_code == STATUS_ERROR for c in row.node.children)
    ]
    return min(ends, key=lambda row: row.span.end_time, default=None)


def axis_ticks(window_seconds: float) -> list[AxisTick]:
    """Ticks at a round step from the window's start ("0", "30s", "1m", "1m 30s"...), at most
    ``MAX_TICKS``; none for an empty window."""
    if window_seconds <= 0:
        return []
    step = next((s for s in TICK_STEPS if window_seconds / s <= MAX_TICKS), TICK_STEPS[-1])
    ticks, n = [], 0
    while n * step <= window_seconds * (1 + 1e-9):
        x = n * step / window_seconds * 100
        if x <= TICK_RIGHT_LIMIT or n == 0:
            ticks.append(AxisTick(x=round(x, 2), label=tick_label(n * step)))
        n += 1
    return ticks


def tick_label(seconds: float) -> str:
    """A round offset from the start: "0", "250 ms", "1.5s", "30s", "1m 30s", "2h", "1d 12h"."""
    if seconds <= 0:
        return "0"
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:g}s"
    whole = round(seconds)
    for unit, size, smaller, smaller_size in (
        ("d", 86400, "h", 3600),
        ("h", 3600, "m", 60),
        ("m", 60, "s", 1),
    ):
        if whole >= size:
            big, rest = divmod(whole, size)
            return f"{big}{unit} {rest // smaller_size}{smaller}" if rest else f"{big}{unit}"
    return f"{whole}s"  # pragma: no cover (whole >= 60 here)


def span_engine_link(span: Span, *, job: Job, run: Run) -> EngineLink | None:
    """The span in its engine's UI, when the UI's base URL is configured and the span says
    which thing it is: a Spark stage, job or application in the history server; an Airflow
    task or DAG run in the grid; a Flink checkpoint in the job's checkpoints."""
    a: Mapping[str, Any] = span.attributes if isinstance(span.attributes, Mapping) else {}
    if job.engine == Engine.SPARK and settings.BATCHWATCH_SPARK_HISTORY_URL:
        return _spark_link(span, a, run)
    if job.engine == Engine.AIRFLOW and settings.BATCHWATCH_AIRFLOW_URL:
        return _airflow_link(a)
    if job.engine == Engine.FLINK and settings.BATCHWATCH_FLINK_UI_URL:
        job_id = a.get("jobId") or a.get("job_id")
        if span.name == "Checkpoint" and job_id:
            base = settings.BATCHWATCH_FLINK_UI_URL.rstrip("/")
            where = "running" if run.state == RunState.RUNNING else "completed"
            url = f"{base}/#/job/{where}/{quote(str(job_id), safe='')}/checkpoints"
            return EngineLink("Flink UI", url)
    return None


def _spark_link(span: Span, a: Mapping[str, Any], run: Run) -> EngineLink | None:
    app = quote(str(a.get("spark.app.id") or run.external_id), safe="")
    base = f"{settings.BATCHWATCH_SPARK_HISTORY_URL.rstrip('/')}/history/{app}"
    if "spark.stage.id" in a:
        query = {"id": a["spark.stage.id"], "attempt": a.get("spark.stage.attempt") or 0}
        return EngineLink("Spark history", f"{base}/stages/stage/?{urlencode(query)}")
    if "spark.job.id" in a:
        query = {"id": a["spark.job.id"]}
        return EngineLink("Spark history", f"{base}/jobs/job/?{urlencode(query)}")
    if span.name == "spark.application":
        return EngineLink("Spark history", f"{base}/")
    return None


def _airflow_link(a: Mapping[str, Any]) -> EngineLink | None:
    """Airflow's grid on the DAG run (and the task) the span names, in any Airflow's words."""
    dag_id = (
        a.get("airflow.dag_id") or a.get("airflow.dag_run.dag_id")
        or a.get("airflow.task_instance.dag_id") or a.get("dag_id")
    )  # fmt: skip
    run_id = (
        a.get("airflow.dag_run.run_id") or a.get("airflow.task_instance.run_id") or a.get("run_id")
    )
    if not dag_id or not run_id:
        return None
    query = {"dag_run_id": str(run_id)}
    task_id = a.get("airflow.task_id") or a.get("airflow.task_instance.task_id") or a.get("task_id")
    if task_id:
        query["task_id"] = str(task_id)
    base = settings.BATCHWATCH_AIRFLOW_URL.rstrip("/")
    url = f"{base}/dags/{quote(str(dag_id), safe='')}/grid?{urlencode(query)}"
    return EngineLink("Airflow grid", url)


@dataclass
class StageTable:
    rows: list[StageRow]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def html(self) -> SafeString:
        """The rows, escaped (``web/waterfall_html.py``)."""
        return stages_html(self.rows)


def spark_stages(wf: Waterfall) -> StageTable:
    """A row per Spark stage span that carries the event log importer's facts (tasks, failed
    tasks, skew, spill, GC), by stage id and attempt; empty when none does."""
    stages = []
    for row in wf.rows:
        a = row.span.attributes if isinstance(row.span.attributes, Mapping) else {}
        if "spark.stage.id" not in a or "tasks" not in a:
            continue
        gc_ms, run_ms = _number(a.get("jvm_gc_time_ms")), _number(a.get("executor_run_time_ms"))
        skew = a.get("skew_ratio")
        stages.append(
            StageRow(
                row=row,
                stage_id=str(a["spark.stage.id"]),
                attempt=int(_number(a.get("spark.stage.attempt"))),
                name=str(a.get("spark.stage.name") or ""),
                tasks=str(a.get("tasks")),
                failed_tasks=int(_number(a.get("failed_tasks"))),
                skew=float(skew) if isinstance(skew, int | float) else None,
                spill=human.size(_number(a.get("spilled_bytes"))),
                gc=human.duration_ms(gc_ms),
                gc_share=f"{gc_ms / run_ms:.0%}" if run_ms else "",
                error=row.error,
            )
        )
    return StageTable(sorted(stages, key=lambda s: (_number(s.stage_id), s.attempt)))


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def flink_checkpoints(run: Run) -> Checkpoints | None:
    """The run's checkpoint facts as the card lists them; None when the run has none."""
    attributes = run.attributes if isinstance(run.attributes, Mapping) else {}
    facts, said = [], set()
    for key, label, kind in CHECKPOINT_FACTS:
        value = attributes.get(key)
        if value is None or value == "" or label in said:
            continue
        said.add(label)
        if kind == "millis":
            text = human.duration_ms(value)
        elif kind == "bytes":
            text = human.size(value)
        else:
            text = str(value)
        facts.append((label, text))
    if not any(key in attributes for key, _, _ in CHECKPOINT_FACTS[:-1]):
        return None
    return Checkpoints(facts=facts)


def run_details(run: Run, *, checkpoints: Checkpoints | None) -> list[tuple[str, Any]]:
    """The run's other facts (the Details card), without those the Checkpoints card shows."""
    attributes = run.attributes if isinstance(run.attributes, Mapping) else {}
    shown = {key for key, _, _ in CHECKPOINT_FACTS} if checkpoints else set()
    return [(key, value) for key, value in attributes.items() if key not in shown]


def short_run_id(external_id: str) -> str:
    """A run's id short enough for a tab: an Airflow run's logical time ("2026-11-21 02:00"),
    the head of a UUID or hex id ("0197a3c2"), an application id as it is, else cut."""
    text = external_id.strip()
    for prefix in AIRFLOW_RUN_PREFIXES:
        if text.startswith(prefix):
            text = text.removeprefix(prefix)
            break
    if (when := ISO_TIME.match(text)) is not None:
        return f"{when.group(1)} {when.group(2)}"
    if HEX_ID.fullmatch(text.replace("-", "")):
        return text.split("-", 1)[0][:8] if "-" in text else text[:8]
    return text if len(text) <= SHORT_ID_MAX else text[: SHORT_ID_MAX - 1] + "…"
