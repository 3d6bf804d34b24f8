"""What the run page shows of a run's spans, computed once per page (no query here: the spans
come from ``runs.selectors``): a window of the waterfall's rows (and the failing span with
its ancestors), each row's label, human duration, engine link and whether it is the failing
span; the time axis; Flink's checkpoints (Spark's stage table is ``web/run_stages.py``)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.utils.safestring import SafeString

from batchwatch.alerts.selectors_hub import EngineLink
from batchwatch.catalog.models import Engine, Job
from batchwatch.runs.models import Run, RunState, Span
from batchwatch.runs.selectors import SpanNode, SpanRow, SpanTree
from batchwatch.runs.selectors_trace import SpanStub
from batchwatch.web import human
from batchwatch.web.span_labels import span_label
from batchwatch.web.waterfall_html import rows_html

STATUS_ERROR = 2
# Rows whose attributes, events and resource are in the page, besides the failing span's;
# the others' are read when opened (``web/waterfall_html.py``).
INLINE_DETAILS = 20
# Rows of the waterfall in a page, and in each further window read in (``?offset=``,
# ``run_views.waterfall_rows``): a page of 50,000 rows cannot be fast, nor read.
WINDOW = 200
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
    index: int | None = None  # its place in the tree's order; None: beyond the tree's spans
    gap_before: int = 0  # the tree's rows left out between the row above and this one

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
    """A window of the tree's rows (``WINDOW`` from ``offset``) and the failing span with its
    ancestors when they lie outside it; ``total`` rows in the tree."""

    rows: list[WaterfallRow]
    ticks: list[AxisTick]
    length: str  # the window's length, human
    truncated: bool
    failing: WaterfallRow | None = None
    total: int = 0
    offset: int = 0
    more_url: str = ""  # where further rows are read from (``run_views.waterfall_rows``)

    @property
    def rows_html(self) -> SafeString:
        """The rows with their details and the gaps between them, escaped
        (``web/waterfall_html.py``)."""
        return rows_html(
            self.rows, total=self.total, offset=self.offset, step=WINDOW, more_url=self.more_url
        )

    def place_of(self, node: SpanNode) -> WaterfallRow | None:
        return next((row for row in self.rows if row.node is node), None)


@dataclass
class Checkpoints:
    facts: list[tuple[str, str]] = field(default_factory=list)


def waterfall(
    tree: SpanTree,
    *,
    job: Job,
    run: Run,
    prefix: str = "span",
    offset: int = 0,
    limit: int = WINDOW,
    beyond: list[SpanNode] | None = None,
    chain: bool = True,
    fill: Callable[[list[SpanNode]], None] | None = None,
) -> Waterfall:
    """The rows of ``tree`` from ``offset`` (at most ``limit``) with what each shows, the
    axis under the window, and the failing span (status error with no failing span below it,
    the first in the tree's order), shown with its ancestors wherever it is; ``beyond``: error
    spans below the tree's but not in it (``place_beyond``); ``fill`` reads the whole rows of
    the nodes shown (the tree may hold only their shape, ``runs.selectors_trace``); without
    ``chain`` the failing span is not added (rows read in below the page's)."""
    beyond = beyond or []
    failing = failing_node(tree.flat, beyond)
    shown = window(
        tree, offset=offset, limit=limit, failing=failing if chain else None, beyond=beyond
    )
    for _, node in shown:
        if isinstance(node.span, SpanStub):  # (``stub_tree`` leaves the bars to the rows shown)
            node.offset_pct, node.width_pct = _bar(tree, node.span)
    if fill is not None:
        fill([node for _, node in shown])
    rows = []
    previous = offset - 1
    for index, node in shown:
        span = node.span
        if not hasattr(span, "name"):
            continue  # a stub whose span is gone since (``fill`` found no row)
        rows.append(
            WaterfallRow(
                node=node,
                label=span_label(span),
                duration=human.duration_ms(span.duration_ms),
                anchor=f"{prefix}-{span.span_id}",
                error=span.status_code == STATUS_ERROR,
                failing=node is failing,
                link=span_engine_link(span, job=job, run=run),
                index=index,
                gap_before=max(0, index - previous - 1) if index is not None else 0,
            )
        )
        previous = index if index is not None else previous
    window_s = (tree.end - tree.start).total_seconds() if tree.start and tree.end else 0.0
    return Waterfall(
        rows=rows,
        ticks=axis_ticks(window_s),
        length=human.duration(window_s) if tree.flat else "",
        truncated=tree.truncated,
        failing=next((row for row in rows if row.failing), None),
        total=len(tree.flat),
        offset=offset,
    )


def window(
    tree: SpanTree, *, offset: int, limit: int, failing: SpanNode | None, beyond: list[SpanNode]
) -> list[tuple[int | None, SpanNode]]:
    """The nodes shown, with their place in the tree's order: ``limit`` from ``offset``, then
    the failing span's ancestors and itself that are not among them."""
    shown: list[tuple[int | None, SpanNode]] = list(
        enumerate(tree.flat[offset : offset + limit], start=offset)
    )
    if failing is None or any(node is failing for _, node in shown):
        return shown
    places = {id(node): i for i, node in enumerate(tree.flat)}
    by_id = {n.span.span_id: n for n in (*tree.flat, *beyond)}
    chain: list[tuple[int | None, SpanNode]] = []
    node: SpanNode | None = failing
    seen = {id(n) for _, n in shown}
    while node is not None and id(node) not in seen:
        chain.append((places.get(id(node)), node))
        seen.add(id(node))
        node = by_id.get(node.span.parent_span_id)
    chain.reverse()
    in_tree = sorted(shown + [c for c in chain if c[0] is not None], key=lambda c: c[0] or 0)
    return in_tree + [c for c in chain if c[0] is None]


def place_beyond(tree: SpanTree, errors: list[Any]) -> list[SpanNode]:
    """Nodes of the error spans the tree lacks (``runs.selectors_trace.trace_shape``) that
    hang below its spans, through each other, with their depth and bar; the others (another
    try's, or below a span not read) are left out."""
    by_id = {n.span.span_id: n for n in tree.flat}
    pending = {e.span_id: e for e in errors}
    placed: list[SpanNode] = []
    for error in errors:
        chain = [error]
        while chain[-1].parent_span_id in pending and len(chain) <= len(errors):
            chain.append(pending[chain[-1].parent_span_id])
        top = by_id.get(chain[-1].parent_span_id)
        if top is None:
            continue
        for span in reversed(chain):
            if span.span_id in by_id:
                top = by_id[span.span_id]
                continue
            node = SpanNode(span=span, depth=top.depth + 1)
            node.offset_pct, node.width_pct = _bar(tree, span)
            by_id[span.span_id] = top = node
            placed.append(node)
    return placed


def _bar(tree: SpanTree, span: SpanStub) -> tuple[float, float]:
    if tree.start is None or tree.end is None:
        return 0.0, 0.3
    start_s = tree.start.timestamp()
    window_s = max(tree.end.timestamp() - start_s, 1e-6)
    offset = min(max((span.start - start_s) / window_s * 100, 0.0), 99.7)
    return offset, max(min((span.end - span.start) / window_s * 100, 100.0 - offset), 0.3)


def shown_open(wf: Waterfall) -> list[SpanRow]:
    """The spans whose details the page holds (the failing one and the first
    ``INLINE_DETAILS``) that still need their events and resource read."""
    rows = wf.rows[:INLINE_DETAILS] + ([wf.failing] if wf.failing is not None else [])
    return [r.span for r in rows if isinstance(r.span, SpanRow) and r.span.events is None]


def failing_node(flat: list[SpanNode], beyond: list[SpanNode]) -> SpanNode | None:
    """The failing span: the deepest of an error's chain (application → job → stage → task),
    and of several such chains the one that ended first (a Spark task killed because its
    stage failed ends after the task that failed it); on a tie, the first in the tree."""
    errors = [n for n in (*flat, *beyond) if n.span.status_code == STATUS_ERROR]
    above = {n.span.parent_span_id for n in errors if n.span.parent_span_id != n.span.span_id}
    ends = [n for n in errors if n.span.span_id not in above]
    return min(ends, key=lambda n: _end(n.span), default=None)


def _end(span: Any) -> float:
    return span.end if isinstance(span, SpanStub) else span.end_time.timestamp()


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
