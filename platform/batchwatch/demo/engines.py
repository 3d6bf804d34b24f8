"""What each engine's runs look like in the demo: how they fail, and the spans they trace.

A Spark job runs out of memory, an Airflow task raises, a dbt model has a database error, a
Flink job fails its checkpoints, a Temporal or Flyte workflow fails an activity or a node: a
visitor learns what Batchwatch shows for each engine, not one error everywhere.
"""

from __future__ import annotations

FAILURES: dict[str, list[str]] = {
    "spark": [
        "ExecutorLostFailure (executor 7 exited caused by one of the running tasks): Container "
        "killed by YARN for exceeding memory limits. 14.3 GB of 14 GB physical memory used",
        "org.apache.spark.SparkException: Job aborted due to stage failure: Task 212 in stage "
        "4.0 failed 4 times: java.lang.OutOfMemoryError: Java heap space",
    ],
    "airflow": [
        "AirflowException: task post_journal_entries failed: psycopg2.errors.LockNotAvailable: "
        "canceling statement due to lock timeout",
        "AirflowTaskTimeout: task build_nacha_file timed out after 0:45:00 (PID 4121)",
        "AirflowSensorTimeout: task wait_for_warehouse_snapshot: sensor timed out after "
        "3:00:00, upstream warehouse_snapshot not done",
    ],
    "dbt": [
        "Database Error in model ledger_daily_balances (models/ledger/ledger_daily_balances.sql)"
        ": division by zero",
        "Compilation Error in model stg_campaign_touches: 'ref' to 'stg_ad_clicks' was not found",
    ],
    "flink": [
        "Checkpoint 48211 expired before completing (timeout 10 min); FlinkRuntimeException: "
        "Exceeded checkpoint tolerable failure threshold, restarting the job",
    ],
    "temporal": [
        "WorkflowExecutionFailed: activity ReconcileDisbursements failed after 5 attempts: "
        "ApplicationError: 3 disbursements missing from the bank statement of the day",
        "WorkflowExecutionTimedOut: workflow AutopayBatch exceeded its 2h execution timeout "
        "waiting on activity SubmitPayments",
    ],
    "flyte": [
        "Workflow execution failed: [UserError] node n2 (score_portfolio) failed: ValueError: "
        "feature 'dti_ratio' has 3.1% nulls (limit 0.5%)",
    ],
    "prefect": [
        "Flow run crashed: task run 'fetch_accounts-3' failed: httpx.ReadTimeout: the CRM API "
        "did not answer within 30 s",
    ],
    "luigi": ["RuntimeError: HmdaExport failed: upstream file s3://compliance/loans.csv missing"],
    "ci": ["Job 'dbt build --select state:modified+' failed with exit code 1"],
    "other": ["exit status 2: AccessDenied listing s3://lake-raw/ (lifecycle audit role)"],
}

# The steps a run traces, as child spans of its root span (the engine's naming).
STEPS: dict[str, tuple[str, list[str]]] = {
    "spark": ("spark.application", ["job 0: load", "stage 1: shuffle", "stage 2: write"]),
    "airflow": ("dag_run", ["task_run.extract", "task_run.transform", "task_run.publish"]),
    "dbt": ("dbt build", ["model.staging", "model.marts", "test.not_null"]),
    "flink": ("flink.job", ["checkpoint", "source: kafka", "sink: iceberg"]),
    "temporal": (
        "RunWorkflow",
        ["RunActivity:Fetch", "RunActivity:Reconcile", "RunActivity:Report"],
    ),
    "flyte": ("workflow", ["node n0 load_features", "node n1 validate", "node n2 score_portfolio"]),
    "prefect": ("flow-run", ["task fetch_accounts", "task prioritise", "task publish"]),
    "luigi": ("luigi.run", ["task Extract", "task Export"]),
    "ci": ("ci.pipeline", ["job checkout", "job build", "job test"]),
    "other": ("cron", ["step run"]),
}


def failure_reason(engine: str, n: int = 0) -> str:
    """The ``n``-th (cycling) demo failure of ``engine``."""
    reasons = FAILURES.get(engine) or FAILURES["other"]
    return reasons[n % len(reasons)]
