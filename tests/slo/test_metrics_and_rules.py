"""/metrics and the generated Prometheus rules, checked with Prometheus's own promtool."""

import re
import subprocess
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from batchwatch.demo.loader import load_demo_catalog
from batchwatch.slo.services import evaluate_all
from tests.conftest import require_tool


@pytest.fixture
def demo_evaluated(db):
    load_demo_catalog()
    evaluate_all(datetime.now(UTC))


def scrape(client, **headers) -> str:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


def test_metrics_names_and_bounded_labels(client, demo_evaluated):
    text = scrape(client)
    for name in (
        "batchwatch_job_runs_total",
        "batchwatch_job_run_duration_seconds_bucket",
        "batchwatch_job_last_success_timestamp_seconds",
        "batchwatch_job_expected_runs_missed_total",
        "batchwatch_slo_objective_ratio",
        "batchwatch_slo_sli_ratio",
        "batchwatch_slo_error_budget_remaining_ratio",
        "batchwatch_slo_burn_rate",
        "batchwatch_ingest_spans_total",
        "batchwatch_ingest_request_duration_seconds_bucket",
        # alerting's families (registered by the alerts app into the same exposition)
        "batchwatch_outbox_notifications",
        "batchwatch_outbox_oldest_undelivered_seconds",
        "batchwatch_alert_intake_queued_batches",
        "batchwatch_escalation_timers_overdue",
    ):
        assert re.search(rf"^{name}\{{", text, re.M) or re.search(rf"^{name} ", text, re.M), name
    labels = set(re.findall(r'(\w+)="', text))
    assert labels <= {"job", "team", "engine", "state", "le", "slo", "window", "status", "source"}
    assert 'slo="ledger-close-by-6"' in text and 'window="3_runs"' in text


def test_metrics_pass_promtool(client, demo_evaluated, tmp_path):
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=scrape(client),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_metrics_token(client, db, settings):
    settings.BATCHWATCH_METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    scrape(client, HTTP_AUTHORIZATION="Bearer s3cret")


def test_rules_pass_promtool_check_and_unit_tests(demo_evaluated, tmp_path, capsys):
    promtool = require_tool("promtool")
    out = tmp_path / "slo.rules.yml"
    call_command("rules", "build", "--out", str(out))
    assert "Wrote 5 SLO rule group(s)" in capsys.readouterr().out
    for args in (["check", "rules", str(out)], ["test", "rules", str(tmp_path / "slo.test.yml")]):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
    rules = out.read_text()
    assert "record: slo:current_burn_rate:ratio" in rules
    assert "severity: page" in rules and "severity: ticket" in rules


def test_rules_refuse_a_missing_directory(db, tmp_path):
    with pytest.raises(CommandError, match="is not a directory") as err:
        call_command("rules", "build", "--out", str(tmp_path / "nope" / "x.yml"))
    assert err.value.returncode == 2


def test_metrics_serve_the_evaluators_snapshot_and_fall_back_to_live(client, demo_evaluated):
    from django.core.cache import cache

    from batchwatch.slo.metrics import SNAPSHOT_KEY

    text = scrape(client)  # evaluate_all left a snapshot
    assert 'batchwatch_metrics_state_render_seconds{source="snapshot"}' in text
    assert "batchwatch_slo_sli_ratio{" in text and "batchwatch_ingest_spans_total" in text
    cache.delete(SNAPSHOT_KEY)
    live = scrape(client)
    assert 'batchwatch_metrics_state_render_seconds{source="live"}' in live
    assert "batchwatch_slo_sli_ratio{" in live


def test_ingest_latency_is_a_histogram(client, db):
    from tests.ingest.helpers import PROTOBUF, sample

    client.post("/v1/traces", sample("airflow/0001_POST_v1_traces.body"), content_type=PROTOBUF)
    text = scrape(client)
    count = re.search(r"^batchwatch_ingest_request_duration_seconds_count (\S+)", text, re.M)
    inf = re.search(
        r'^batchwatch_ingest_request_duration_seconds_bucket\{le="\+Inf"\} (\S+)', text, re.M
    )
    assert count and inf and float(count.group(1)) == float(inf.group(1)) >= 1
