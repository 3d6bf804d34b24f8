"""A hand-written dashboard: the ledger close as Finance sees it (an example to copy).

Uses the same helpers as the generated ones: `Board` (layout, stable panel ids, datasource,
the managed-by tag) and `Query`. Edit, then `python manage.py dashboards diff`.
"""

from batchwatch.catalog.links import dashboard_uid
from batchwatch.dashboards.builder import Board, Query

CLOSE = 'job="airflow:prod-airflow/ledger_nightly_close"'
FEEDS = 'team="ledger"'

dashboard = Board(
    uid=dashboard_uid("custom", "ledger-close"),
    title="Ledger close — Finance view",
    tags=["team:ledger", "finance"],
    description="Did the ledger close on time? For Finance's morning check.",
    folder=(dashboard_uid("folder", "ledger"), "Ledger"),
)
dashboard.row("today", "This morning")
dashboard.stat(
    "closed",
    "Hours since the ledger last closed",
    Query(f"(time() - max(batchwatch_job_last_success_timestamp_seconds{{{CLOSE}}})) / 3600"),
    thresholds=[("green", None), ("orange", 24), ("red", 30)],
    w=8,
)
dashboard.stat(
    "deadline-sli",
    "Closed by 06:00 ET (28 runs)",
    Query('min(batchwatch_slo_sli_ratio{slo="ledger-close-by-6"})'),
    unit="percentunit",
    thresholds=[("red", None), ("green", 0.95)],
    w=8,
)
dashboard.stat(
    "feeds-failed",
    "Ledger feeds failed (24 h)",
    Query(f'sum(increase(batchwatch_job_runs_total{{{FEEDS},state="failed"}}[1d])) or vector(0)'),
    thresholds=[("green", None), ("red", 1)],
    w=8,
)
dashboard.timeseries(
    "close-duration",
    "Ledger close duration (p90 per day)",
    Query(
        "histogram_quantile(0.9, sum by (le) "
        f"(rate(batchwatch_job_run_duration_seconds_bucket{{{CLOSE}}}[1d])))",
        "p90",
    ),
    unit="s",
    w=24,
)
