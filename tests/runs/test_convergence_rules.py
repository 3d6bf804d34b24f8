"""runs/convergence.py: each rule, its table in docs/telemetry.md, and the property that
makes any order safe: folding a run's observations in any order, with repeats, gives the
same run (checked here on unsaved runs, in memory; tests/ingest/test_convergence_property.py
checks the captured fixtures through ingest and the database)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from batchwatch.runs import convergence
from batchwatch.runs.models import Run
from batchwatch.runs.observations import RunObservation

T0 = datetime(2026, 11, 21, 7, 0, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "telemetry.md"


def obs(**kw) -> RunObservation:
    base = {"engine": "flink", "namespace": "prod", "job_name": "ledger", "external_id": "j1",
            "source": "otlp_logs"}  # fmt: skip
    return RunObservation(**{**base, **kw})


def fold(*observations: RunObservation) -> Run:
    run = Run(external_id="j1", source=observations[0].source, convergence=convergence.fresh())
    for each in observations:
        convergence.apply(run, each)
    return run


FIELDS = (
    "state", "attempt", "started_at", "ended_at", "duration_seconds", "scheduled_at",
    "failure_reason", "trace_id", "root_span_id", "parent_ref", "attributes", "source",
    "convergence",
)  # fmt: skip


def facts(run: Run) -> dict:
    return {name: getattr(run, name) for name in FIELDS}


def test_the_docs_table_is_the_rules():
    text = DOCS.read_text()
    rows = dict(re.findall(r"^\| (`[^|]+`) \| (.+) \|$", text, flags=re.MULTILINE))
    for field, rule in convergence.RULES.items():
        name = ", ".join(f"`{part}`" for part in field.split(", "))
        assert rows.get(name) == rule, f"docs/telemetry.md's row for {field} differs"


class TestRules:
    def test_a_specific_reason_beats_a_generic_one_in_either_order(self):
        generic = obs(state="failed", ended_at=T0, failure_reason="job failed",
                      failure_generic=True)  # fmt: skip
        specific = obs(state="failed", ended_at=T0 - timedelta(seconds=3), source="flink_rest",
                       failure_reason="ValueError: negative amount")  # fmt: skip
        for order in ((generic, specific), (specific, generic)):
            assert fold(*order).failure_reason == "ValueError: negative amount"

    def test_a_newer_attempts_reason_wins_even_if_generic(self):
        first = obs(state="failed", attempt=1, ended_at=T0, failure_reason="OOM")
        second = obs(state="failed", attempt=2, ended_at=T0 + timedelta(minutes=5),
                     failure_reason="task failed (try 2)", failure_generic=True)  # fmt: skip
        assert fold(second, first).failure_reason == "task failed (try 2)"
        assert fold(first, second).failure_reason == "task failed (try 2)"

    def test_a_running_report_never_overwrites_a_finished_ones_attributes(self):
        finished = obs(state="failed", ended_at=T0, attributes={"flink_status": "FAILED"})
        stale = obs(state="running", started_at=T0 + timedelta(minutes=1),
                    attributes={"flink_status": "RUNNING", "job_type": "STREAMING"})  # fmt: skip
        for order in ((finished, stale), (stale, finished)):
            run = fold(*order)
            assert run.state == "failed"
            assert run.attributes == {"flink_status": "FAILED", "job_type": "STREAMING"}

    def test_counters_are_maxima_not_sums_of_replays(self):
        polls = [obs(state="running", started_at=T0, attributes={"restarts": n}) for n in (2, 1)]
        assert fold(*polls, *polls).attributes["restarts"] == 2

    def test_the_runs_own_span_is_its_root_whichever_came_first(self):
        own = obs(trace_id="t" * 32, root_span_id="a" * 16, state="succeeded", ended_at=T0)
        worker = obs(trace_id="t" * 32, root_span_id="b" * 16, root_rank=1, state="succeeded",
                     ended_at=T0)  # fmt: skip
        assert fold(worker, own).root_span_id == fold(own, worker).root_span_id == "a" * 16
        assert fold(worker).root_span_id == "b" * 16

    def test_sources_are_all_kept_and_the_richest_names_the_run(self):
        run = fold(obs(source="otlp_logs", state="running"), obs(source="flink_rest"))
        assert run.source == "flink_rest"
        assert run.convergence["sources"] == ["flink_rest", "otlp_logs"]

    def test_a_run_stored_before_the_rules_were_kept_converges_from_its_fields(self):
        run = Run(external_id="j1", source="otlp_logs", state="failed", started_at=T0,
                  ended_at=T0 + timedelta(minutes=1), failure_reason="job failed",
                  attributes={"flink_status": "FAILED"})  # fmt: skip
        convergence.apply(run, obs(state="running", started_at=T0,
                                   attributes={"flink_status": "RUNNING"}))  # fmt: skip
        assert (run.state, run.attributes["flink_status"]) == ("failed", "FAILED")
        polled = obs(state="failed", ended_at=T0 + timedelta(minutes=1),
                     failure_reason="ValueError: x", source="flink_rest")  # fmt: skip
        convergence.apply(run, polled)
        assert run.failure_reason == "ValueError: x"

    def test_a_report_that_says_nothing_of_a_try_adds_none(self):
        # Flink's or Spark's metrics, Kafka lag, a poll's counters: run facts, no try's.
        tries = [
            obs(state="failed", attempt=1, started_at=T0, ended_at=T0, failure_reason="OOM"),
            obs(state="running", attempt=2, started_at=T0 + timedelta(minutes=5)),
        ]
        facts_only = obs(source="otlp_metrics", attributes={"kafka_lag": {"value": 42}})
        for order in ((facts_only, *tries), (*tries, facts_only), (tries[1], facts_only)):
            run = fold(*order)
            assert run.attributes == {"kafka_lag": {"value": 42}}
            assert [t["attempt"] for t in convergence.attempts_of(run)] == sorted(
                o.attempt for o in order if o.attempt
            )
        assert convergence.attempts_of(fold(facts_only)) == []
        assert fold(facts_only).attempt == 1

    def test_an_empty_try_stored_before_is_not_shown(self):
        run = fold(obs(state="running", attempt=2, started_at=T0))
        run.convergence["attempts"]["1"] = {}
        assert [t["attempt"] for t in convergence.attempts_of(run)] == [2]


# --- Any order, any repetition: the same run --------------------------------------------------
times = st.sampled_from([None, *(T0 + timedelta(minutes=m) for m in (0, 1, 5, 9))])
observations = st.builds(
    obs,
    state=st.sampled_from([None, "running", "succeeded", "failed"]),
    attempt=st.sampled_from([None, 1, 2]),
    started_at=times,
    ended_at=times,
    scheduled_at=st.sampled_from([None, T0, T0 - timedelta(hours=1)]),
    failure_reason=st.sampled_from(["", "job failed", "OOM", "ValueError: x"]),
    failure_generic=st.booleans(),
    trace_id=st.sampled_from(["", "a" * 32, "b" * 32]),
    root_span_id=st.sampled_from(["", "1" * 16, "2" * 16]),
    root_rank=st.sampled_from([0, 1]),
    parent_ref=st.sampled_from(["", "span:x/y", "ol:ns/dag#r", "airflow:ns/dag#r"]),
    source=st.sampled_from(["otlp", "otlp_logs", "flink_rest", "openlineage"]),
    attributes=st.dictionaries(
        st.sampled_from(["flink_status", "restarts", "job_type"]),
        st.sampled_from(["RUNNING", "FAILED", 0, 1, 3]),
        max_size=3,
    ),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(observations, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_any_order_and_any_repetition_give_the_same_run(reports, random):
    shuffled = list(reports)
    random.shuffle(shuffled)
    repeated = shuffled + random.sample(shuffled, k=min(2, len(shuffled)))
    assert facts(fold(*reports)) == facts(fold(*repeated))
