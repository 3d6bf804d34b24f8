"""Prometheus rules for the SLOs, over the metrics /metrics exports (Sloth-style names).

Batch SLOs are counted in runs, so the burn-rate windows are windows of runs that
Batchwatch computes (``batchwatch_slo_burn_rate{window="3_runs"|"7_runs"|"window"}``);
Prometheus re-exposes them under Sloth's names and alerts on them:

* page:   the last 3 runs burn budget >= 6x AND the last 7 runs >= 3x (fast, confirmed);
* ticket: less than 25% of the window's budget left, or the whole window burning >= 1x;
* ticket: the SLO's metrics are absent for 30 minutes (Batchwatch or its scrape is down).
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from batchwatch.core.links import absolute_url
from batchwatch.slo.models import SLO

PAGE_SHORT, PAGE_LONG = 6, 3


@dataclass(frozen=True)
class RuleFiles:
    rules: str
    tests: str


def _selector(slo: SLO) -> str:
    return f'{{slo="{slo.slug}"}}'


def _group(slo: SLO) -> dict:
    sel = _selector(slo)
    labels = {"sloth_slo": slo.slug}
    record = [
        {"record": "slo:sli_error:ratio", "expr": f"1 - batchwatch_slo_sli_ratio{sel}"},
        {"record": "slo:objective:ratio", "expr": f"batchwatch_slo_objective_ratio{sel}"},
        {"record": "slo:error_budget:ratio", "expr": f"1 - batchwatch_slo_objective_ratio{sel}"},
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": f'batchwatch_slo_burn_rate{{slo="{slo.slug}",window="3_runs"}}',
        },
        {
            "record": "slo:period_burn_rate:ratio",
            "expr": f'batchwatch_slo_burn_rate{{slo="{slo.slug}",window="window"}}',
        },
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"batchwatch_slo_error_budget_remaining_ratio{sel}",
        },
        {
            "record": "slo:info",
            "expr": f"0 * batchwatch_slo_objective_ratio{sel} + 1",
            "labels": {
                "slo_kind": slo.kind,
                "slo_objective": str(slo.objective),
                "slo_window": f"{slo.window_size} {slo.window_unit}",
            },
        },
    ]
    for rule in record:
        rule["labels"] = {**labels, **rule.get("labels", {})}
    summary = f"{slo.name}: burning its error budget"
    runbook = _runbook_url("slo-burn")
    alerts = [
        {
            "alert": "BatchSLOBurnRatePage",
            "expr": (
                f'batchwatch_slo_burn_rate{{slo="{slo.slug}",window="3_runs"}} >= {PAGE_SHORT}\n'
                f"and on (slo, job, team)\n"
                f'batchwatch_slo_burn_rate{{slo="{slo.slug}",window="7_runs"}} >= {PAGE_LONG}'
            ),
            "labels": {"severity": "page", **labels},
            "annotations": {
                "summary": summary + " fast",
                "description": "The last 3 runs of {{ $labels.job }} burn the error budget "
                "{{ $value | humanize }}x faster than the objective allows.",
                "runbook_url": runbook,
            },
        },
        {
            "alert": "BatchSLOBudgetLow",
            "expr": (
                f"batchwatch_slo_error_budget_remaining_ratio{sel} < 0.25\n"
                f'or batchwatch_slo_burn_rate{{slo="{slo.slug}",window="window"}} >= 1'
            ),
            "labels": {"severity": "ticket", **labels},
            "annotations": {
                "summary": summary,
                "description": "{{ $labels.job }} has used most of its error budget for "
                f"{slo.name}.",
                "runbook_url": runbook,
            },
        },
        {
            "alert": "BatchSLOAbsent",
            "expr": f"absent(batchwatch_slo_sli_ratio{sel})",
            "for": "30m",
            "labels": {"severity": "ticket", **labels},
            "annotations": {
                "summary": f"{slo.name}: no SLO data (is Batchwatch scraped?)",
                "description": "Batchwatch exports no SLI for this SLO.",
                "runbook_url": _runbook_url("platform-ingest-backlog"),
            },
        },
    ]
    return {"name": f"batchwatch-slo-{slo.slug}", "rules": record + alerts}


def _runbook_url(runbook_id: str) -> str:
    return absolute_url("web:runbook", runbook_id)


def platform_group() -> dict:
    """Alerts on Batchwatch itself, each linking its runbook (runbooks/platform-*.md)."""
    rules = [
        (
            "BatchwatchOutboxStuck",
            "batchwatch_outbox_oldest_undelivered_seconds > 300",
            "5m",
            "Notifications have waited more than 5 minutes in the outbox: nobody is paged",
            "platform-stuck-outbox",
        ),
        (
            "BatchwatchEscalationsOverdue",
            "batchwatch_escalation_timers_overdue > 0",
            "5m",
            "Escalation timers are overdue: incidents do not escalate",
            "platform-overdue-escalations",
        ),
        (
            "BatchwatchIngestErrors",
            "sum(rate(batchwatch_ingest_errors_total[5m]))\n"
            "/ clamp_min(sum(rate(batchwatch_ingest_requests_total[5m])), 1e-9) > 0.05",
            "10m",
            "More than 5% of ingest requests are refused",
            "platform-ingest-backlog",
        ),
        (
            "BatchwatchIngestSlow",
            "histogram_quantile(0.99, sum by (le) "
            "(rate(batchwatch_ingest_request_duration_seconds_bucket[5m]))) > 2",
            "10m",
            "Ingest p99 latency above 2 s: exporters are queueing",
            "platform-ingest-backlog",
        ),
    ]
    return {
        "name": "batchwatch-platform",
        "rules": [
            {
                "alert": name,
                "expr": expr,
                "for": wait,
                "labels": {"severity": "page", "team": "data-platform"},
                "annotations": {"summary": summary, "runbook_url": _runbook_url(runbook)},
            }
            for name, expr, wait, summary, runbook in rules
        ],
    }


def build_rules(slos: list[SLO], *, rules_filename: str) -> RuleFiles:
    groups = [_group(slo) for slo in slos] + [platform_group()]
    rules = yaml.safe_dump({"groups": groups}, sort_keys=False, width=100)
    return RuleFiles(rules=rules, tests=_tests(slos, rules_filename))


def _tests(slos: list[SLO], rules_filename: str) -> str:
    """promtool unit tests: one burning, one healthy and one silent SLO per file."""
    if not slos:
        return yaml.safe_dump({"rule_files": [rules_filename], "tests": []})
    tests = [_burning_test(slos[0]), _absent_test(slos)]
    return yaml.safe_dump(
        {"rule_files": [rules_filename], "evaluation_interval": "1m", "tests": tests},
        sort_keys=False,
        width=100,
    )


def _burning_test(slo: SLO) -> dict:
    """The first SLO burning 33x over its last 3 runs: it pages and is recorded as such."""
    series = 'batchwatch_slo_burn_rate{{slo="{s}",job="j",team="t",window="{w}"}}'
    target = f'slo="{slo.slug}",job="j",team="t"'
    return {
        "interval": "1m",
        "input_series": [
            {"series": series.format(s=slo.slug, w="3_runs"), "values": "33+0x10"},
            {"series": series.format(s=slo.slug, w="7_runs"), "values": "14+0x10"},
            {"series": series.format(s=slo.slug, w="window"), "values": "1.5+0x10"},
            {"series": f"batchwatch_slo_sli_ratio{{{target}}}", "values": "0.9+0x10"},
            {
                "series": f"batchwatch_slo_error_budget_remaining_ratio{{{target}}}",
                "values": "-0.5+0x10",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "5m",
                "alertname": "BatchSLOBurnRatePage",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "page",
                            "sloth_slo": slo.slug,
                            "slo": slo.slug,
                            "job": "j",
                            "team": "t",
                            "window": "3_runs",
                        },
                        "exp_annotations": {
                            "summary": f"{slo.name}: burning its error budget fast",
                            "description": "The last 3 runs of j burn the error budget "
                            "33x faster than the objective allows.",
                            "runbook_url": _runbook_url("slo-burn"),
                        },
                    }
                ],
            },
            {"eval_time": "5m", "alertname": "BatchSLOAbsent", "exp_alerts": []},
        ],
        "promql_expr_test": [
            {
                "expr": f'slo:current_burn_rate:ratio{{sloth_slo="{slo.slug}"}}',
                "eval_time": "5m",
                "exp_samples": [
                    {
                        "labels": f'slo:current_burn_rate:ratio{{slo="{slo.slug}",'
                        f'sloth_slo="{slo.slug}",job="j",team="t",window="3_runs"}}',
                        "value": 33,
                    }
                ],
            },
        ],
    }


def _absent_test(slos: list[SLO]) -> dict:
    """No metrics at all: every SLO's absent alert fires after its 30 minutes."""
    return {
        "interval": "1m",
        "input_series": [],
        "alert_rule_test": [
            {
                "eval_time": "31m",
                "alertname": "BatchSLOAbsent",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "ticket", "sloth_slo": s.slug, "slo": s.slug},
                        "exp_annotations": {
                            "summary": f"{s.name}: no SLO data (is Batchwatch scraped?)",
                            "description": "Batchwatch exports no SLI for this SLO.",
                            "runbook_url": _runbook_url("platform-ingest-backlog"),
                        },
                    }
                    for s in slos
                ],
            },
        ],
    }
