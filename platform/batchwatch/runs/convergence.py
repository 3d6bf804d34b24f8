"""The convergence rules of a run: how every report about it decides each of its fields.

Reports of one run arrive in any order, repeated, from several sources and in several
requests. Each field below is decided by a rule that depends on what the reports say, never
on which came first, so any order gives the same run. ``apply`` is that rule set: folding
observations into a run with it is commutative and idempotent. ``RULES`` states each rule in
a sentence; docs/telemetry.md shows them as a table (a test checks the two agree).

What a later report must be judged against is kept in ``Run.convergence``: the standing of
the report that gave the state, and the rank of the values held for the root span, the
failure reason, the parent reference and each attribute.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from batchwatch.runs.observations import RunObservation
from batchwatch.runs.states import RunState

if TYPE_CHECKING:  # (the models read these rules: Run only names the argument's type here)
    from batchwatch.runs.models import Run

FINISHED = frozenset({RunState.SUCCEEDED, RunState.FAILED})
# Of two finished reports of one attempt that end at the same instant, failure wins.
_STATE_ORDER = {RunState.RUNNING: 0, RunState.SUCCEEDED: 1, RunState.FAILED: 2}
# Which source names the run when several report it: the one with the richest account.
SOURCE_ORDER = (
    "otlp", "spark_eventlog", "flink_rest", "otlp_logs", "openlineage", "otlp_metrics", "ledger"
)  # fmt: skip
# Attributes that only grow while a run lives: the largest value reported is the truth (a
# replayed or stale report never lowers them, and replays are never summed).
COUNTERS = frozenset(
    {
        "restarts",
        "checkpoints_completed",
        "checkpoints_failed",
        "last_checkpoint_id",
        "jobs",
        "failed_jobs",
        "stages",
    }
)
VERSION = 1

RULES: dict[str, str] = {
    "state": "the state of the report with the highest standing: a newer attempt beats an "
    "older one; within an attempt a finished report beats a running one; of two finished, "
    "the later end wins (failed on a tie); of two running, the later one",
    "attempt": "the highest attempt reported",
    "started_at": "the earliest start reported",
    "ended_at": "the end of the report that gave the state; none while running",
    "duration_seconds": "`ended_at` - `started_at`",
    "scheduled_at": "the earliest logical time reported (an occurrence the ledger expected "
    "keeps its own)",
    "failure_reason": "the most specific reason of the latest failed attempt: an engine's own "
    "message beats our placeholder ('job failed'); shown unless the run succeeded",
    "trace_id, root_span_id": "the span that represents the run by the engine's convention "
    "(Airflow `task_run.<task>`, `dag_run.<dag>`; the run's own span elsewhere) of the "
    "latest attempt; another span of the run (`worker.<task>`) only until that one arrives",
    "parent_ref": "a reference by job key beats an OpenLineage reference, which beats a "
    "parent span",
    "lineage_ref": "of the OpenLineage events filed under the engine's identity (Airflow dag "
    "and run id, task id and map index; Spark application id; Flink job id), the reference "
    "(`ol:<namespace>/<name>#<runId>`) of the latest attempt: runs that name it as their "
    "OpenLineage parent find the run",
    "attributes": "per key, the value of the report with the highest standing (a running "
    "report never overwrites what a finished one said); counters (`restarts`, checkpoint "
    "counts, Spark job and stage counts) are the largest value reported",
    "spans": "stored once per (trace id, span id); a source that grows (a Spark event log "
    "read again) replaces a span by a version that ends later (on a tie, the larger content)",
    "attempts": "per try, by the same rules: its state and end from its report of highest "
    "standing, its earliest start, its most specific failure reason, its own span (Airflow's "
    "`task_run.<task>` of that try) with the spans below it (`attempts` in the API, the run "
    "page's Attempts, and the run's alerts: \"failed on try 1 of 2, then succeeded\"); a "
    "report that says nothing of a try (metrics, Kafka lag) adds none",
    "source": "the richest source that reported the run (OTLP traces, Spark event log, Flink "
    "REST, OTLP logs, OpenLineage, OTLP metrics, the ledger); all of them are kept "
    "(`sources` in the API and on the run page)",
}


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def standing(obs: RunObservation) -> list:
    """How much a report's state counts: (attempt, finished, as of when, state order, its
    end); two reports of equal standing say the same state and end."""
    return _standing(obs.attempt, obs.state, obs.started_at, obs.ended_at)


def _standing(attempt, state, started_at, ended_at) -> list:
    finished = state in FINISHED
    end = ended_at if finished else None
    when = end or started_at
    return [attempt or 1, int(finished), _ts(when), _STATE_ORDER.get(state, -1), _ts(end)]


def _run_standing(run: Run) -> list:
    """The standing of a run stored before its reports' ranks were kept (or written by the
    ledger): what its own fields say."""
    return _standing(run.attempt, run.state, run.started_at, run.ended_at)


def fresh() -> dict[str, Any]:
    """The convergence record of a run no report has spoken of yet."""
    return {"v": VERSION}


def _record_of(run: Run) -> dict[str, Any]:
    record = run.convergence or {}
    if record.get("v") == VERSION:
        return {
            **record,
            "attrs": dict(record.get("attrs") or {}),
            "attempts": {k: dict(v) for k, v in (record.get("attempts") or {}).items()},
        }
    # A run stored before: its fields stand as one report of unknown specificity.
    derived: dict[str, Any] = {"v": VERSION, "attrs": {}, "attempts": {}}
    if run.state in _STATE_ORDER:
        derived["standing"] = _run_standing(run)
        derived["attrs"] = dict.fromkeys(run.attributes or {}, derived["standing"])
    if run.failure_reason:
        derived["reason"] = [run.attempt or 1, 1, run.failure_reason]
    if run.root_span_id or run.trace_id:
        derived["root"] = [run.attempt or 1, -1, run.trace_id, run.root_span_id]
    if run.parent_ref:
        derived["parent"] = [_ref_rank(run.parent_ref), run.parent_ref]
    if run.source:
        derived["sources"] = [run.source]
    return derived


def _apply_attempt(attempts: dict, obs: RunObservation, attempt: int, rank: list) -> None:
    """Each try's own facts, by the same rules as the run's: its state and end from its
    report of highest standing, its earliest start, its most specific failure reason.

    A report that says nothing of a try (no state, start, failure or span: Flink's and
    Spark's metrics, Kafka lag, a poll's counters) leaves the tries as they are: it would
    otherwise add an empty try 1 to a run on its second, in whatever order it arrived."""
    facts = dict(attempts.get(str(attempt)) or {})
    if obs.state and (facts.get("standing") is None or rank > facts["standing"]):
        facts["standing"] = rank
        facts["state"] = obs.state
        ended = obs.ended_at if obs.state in FINISHED else None
        facts["ended_at"] = ended.isoformat() if ended else None
    if obs.started_at and (
        facts.get("started_at") is None
        or obs.started_at < datetime.fromisoformat(facts["started_at"])
    ):
        facts["started_at"] = obs.started_at.isoformat()
    if obs.state == RunState.FAILED and obs.failure_reason:
        candidate = [1 if obs.failure_generic else 2, obs.failure_reason]
        if facts.get("reason") is None or candidate > facts["reason"]:
            facts["reason"] = candidate
    if obs.root_span_id:
        # Its own span, by the run's rule: the span that represents the try beats another.
        candidate = [-obs.root_rank, obs.trace_id, obs.root_span_id]
        if facts.get("root") is None or candidate > facts["root"]:
            facts["root"] = candidate
    if facts:
        attempts[str(attempt)] = facts


def attempts_of(run: Run) -> list[dict[str, Any]]:
    """The run's tries, oldest first: attempt, state, started_at, ended_at, failure_reason,
    and the trace_id and root_span_id of the try's own span (what the reports said of each;
    a try no report spoke of is missing)."""
    tries = (run.convergence or {}).get("attempts") or {}
    return [
        {
            "attempt": int(number),
            "state": facts.get("state") or RunState.RUNNING,
            "started_at": facts.get("started_at"),
            "ended_at": facts.get("ended_at"),
            "failure_reason": (facts.get("reason") or [0, ""])[1]
            if facts.get("state") == RunState.FAILED
            else "",
            "trace_id": (facts.get("root") or [0, "", ""])[1],
            "root_span_id": (facts.get("root") or [0, "", ""])[2],
        }
        for number, facts in sorted(tries.items(), key=lambda item: int(item[0]))
        if facts  # (an empty try, stored before reports that say nothing of one left none)
    ]


_TRY_WORDS = {RunState.SUCCEEDED: "succeeded", RunState.FAILED: "failed"}
MAX_STORY_REASON = 120


def attempts_story(attempts: list[dict[str, Any]]) -> str:
    """What became of each try, as an on-call engineer asks it: "failed on try 1 of 2 (OOM),
    then succeeded". Empty for a run of one try."""
    if not attempts or attempts[-1]["attempt"] <= 1:
        return ""
    parts = []
    for index, facts in enumerate(attempts):
        number, state = facts["attempt"], facts["state"]
        if state == RunState.SUCCEEDED and 0 < index == len(attempts) - 1:
            part = "succeeded"
        elif state in _TRY_WORDS:
            part = f"{_TRY_WORDS[state]} on try {number}"
        else:
            part = f"try {number} running"
        if index == 0:
            part += f" of {attempts[-1]['attempt']}"
            if number > 1:
                part += " (earlier tries not reported)"
        reason = facts.get("failure_reason") or ""
        if reason:
            cut = len(reason) > MAX_STORY_REASON
            part += f" ({reason[: MAX_STORY_REASON - 1] + '…' if cut else reason})"
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + ", then " + parts[-1]


def sources_of(run: Run) -> list[str]:
    """Every source that reported the run, richest first."""
    sources = set((run.convergence or {}).get("sources") or ([run.source] if run.source else []))
    return [s for s in SOURCE_ORDER if s in sources] + sorted(sources - set(SOURCE_ORDER))


def _ref_rank(ref: str) -> int:
    if ref.startswith("span:"):
        return 0
    return 1 if ref.startswith("ol:") else 2


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _counter(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def apply(run: Run, obs: RunObservation) -> None:
    """Converge ``run`` with what ``obs`` says (see ``RULES``)."""
    record = _record_of(run)
    attempt = obs.attempt or 1
    rank = standing(obs)
    _apply_state_and_times(run, obs, record, attempt, rank)
    _apply_failure_reason(run, obs, record, attempt)
    _apply_references(run, obs, record, attempt)
    _apply_attributes(run, obs, record["attrs"], rank)
    _apply_attempt(record["attempts"], obs, attempt, rank)
    _apply_sources(run, obs, record)
    run.convergence = record


def _apply_state_and_times(
    run: Run, obs: RunObservation, record: dict, attempt: int, rank: list
) -> None:
    # State, and the end that goes with it.
    top = record.get("standing")
    if obs.state and (top is None or rank > top):
        record["standing"] = top = rank
        run.state = obs.state
        record["end"] = obs.ended_at.isoformat() if obs.ended_at and obs.state in FINISHED else ""
    run.attempt = max(run.attempt or 1, attempt)
    end = record.get("end") or ""
    run.ended_at = datetime.fromisoformat(end) if end and run.state in FINISHED else None
    if run.state not in FINISHED:
        run.ended_at = None
    if obs.started_at and (run.started_at is None or obs.started_at < run.started_at):
        run.started_at = obs.started_at
    keeps_own = run.expected_at is not None  # (an occurrence of the schedule)
    if obs.scheduled_at and (
        run.scheduled_at is None or (not keeps_own and obs.scheduled_at < run.scheduled_at)
    ):
        run.scheduled_at = obs.scheduled_at
    run.duration_seconds = (
        (run.ended_at - run.started_at).total_seconds() if run.started_at and run.ended_at else None
    )


def _apply_failure_reason(run: Run, obs: RunObservation, record: dict, attempt: int) -> None:
    # Failure reason: latest attempt first, then specificity, then the text (a stable tie).
    if obs.state == RunState.FAILED and obs.failure_reason:
        candidate = [attempt, 1 if obs.failure_generic else 2, obs.failure_reason]
        if record.get("reason") is None or candidate > record["reason"]:
            record["reason"] = candidate
    reason = record.get("reason")
    run.failure_reason = reason[2] if reason and run.state != RunState.SUCCEEDED else ""


def _apply_references(run: Run, obs: RunObservation, record: dict, attempt: int) -> None:
    # Root span (and its trace): the run's own span of the latest attempt.
    if obs.trace_id or obs.root_span_id:
        candidate = [
            attempt if obs.root_span_id else 0,
            -obs.root_rank if obs.root_span_id else -10,
            obs.trace_id,
            obs.root_span_id,
        ]
        if record.get("root") is None or candidate > record["root"]:
            record["root"] = candidate
    if record.get("root"):
        run.trace_id, run.root_span_id = record["root"][2], record["root"][3]

    if obs.parent_ref:
        candidate = [_ref_rank(obs.parent_ref), obs.parent_ref]
        if record.get("parent") is None or candidate > record["parent"]:
            record["parent"] = candidate
    if record.get("parent"):
        run.parent_ref = record["parent"][1]

    if obs.lineage_ref:
        candidate = [attempt, obs.lineage_ref]
        if record.get("lineage") is None or candidate > record["lineage"]:
            record["lineage"] = candidate
    if record.get("lineage"):
        run.lineage_ref = record["lineage"][1]


def _apply_attributes(run: Run, obs: RunObservation, ranks: dict, rank: list) -> None:
    # Attributes, key by key.
    attributes = dict(run.attributes or {})
    for key, value in (obs.attributes or {}).items():
        held = ranks.get(key)
        old = attributes.get(key)
        if key in COUNTERS and key in attributes and (_counter(value) or _counter(old)):
            # A number is the counter's value (the largest wins); text never replaces one.
            if _counter(value) and (not _counter(old) or value > old):
                attributes[key] = value
            ranks[key] = max(held or rank, rank)
            continue
        if (
            held is None
            or key not in attributes
            or rank > held
            or (rank == held and _canonical(value) > _canonical(attributes[key]))
        ):
            attributes[key] = value
            ranks[key] = rank
    run.attributes = attributes


def _apply_sources(run: Run, obs: RunObservation, record: dict) -> None:
    sources = set(record.get("sources") or [])
    if obs.source:
        sources.add(obs.source)
    record["sources"] = sorted(sources)
    known = [s for s in SOURCE_ORDER if s in sources]
    run.source = known[0] if known else (record["sources"][0] if sources else run.source)


def _span_key(span) -> tuple:
    return (
        span.end_time,
        _canonical(
            [span.name, span.start_time, span.status_code, span.status_message,
             span.attributes, span.events, span.parent_span_id]
        ),
    )  # fmt: skip


def span_newer(candidate, stored) -> bool:
    """Whether ``candidate`` (a version of a stored span read again from a growing source)
    replaces ``stored``: it ends later, or as late with larger content (a stable tie)."""
    return _span_key(candidate) > _span_key(stored)
