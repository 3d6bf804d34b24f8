"""Dashboard links to Batchwatch pages: under BATCHWATCH_BASE_URL, as the pages' URLs."""

from __future__ import annotations

from batchwatch.dashboards.generators import job_detail, platform, slo_detail, team_overview
from batchwatch.dashboards.selectors import CatalogSnapshot, JobInfo, SLOInfo, TeamInfo

BASE = "https://batchwatch.example.com/bw"
TEAM = TeamInfo("ledger-ops", "Ledger ops")
JOB = JobInfo(17, "airflow:prod/close", "close", "airflow", "ledger-ops", 1, 7200.0, None)
SLO = SLOInfo("close-by-6", "Close by 6", "deadline", 0.95, "ledger-ops", (JOB.key,))
SNAPSHOT = CatalogSnapshot(teams=[TEAM], jobs=[JOB], slos=[SLO])


def _links(board) -> list[tuple[str, str]]:
    return [(link["title"], link["url"]) for link in board.build()["links"] if link.get("url")]


def test_team_job_slo_and_platform_links(settings):
    settings.BATCHWATCH_BASE_URL = BASE
    assert _links(team_overview(TEAM, SNAPSHOT)) == [
        ("Team in Batchwatch", f"{BASE}/teams/ledger-ops/")
    ]
    assert _links(job_detail(JOB, SNAPSHOT)) == [
        ("Job in Batchwatch", f"{BASE}/jobs/17/"),
        ("Runbook", f"{BASE}/runbooks/for/?kind=failed&job=17"),
    ]
    assert _links(slo_detail(SLO, SNAPSHOT)) == [
        ("Runbook: SLO burning", f"{BASE}/runbooks/slo-burn/")
    ]
    assert _links(platform()) == [
        ("Runbook: ingest backlog", f"{BASE}/runbooks/platform-ingest-backlog/"),
        ("Runbook: stuck outbox", f"{BASE}/runbooks/platform-stuck-outbox/"),
        ("Runbook: overdue escalations", f"{BASE}/runbooks/platform-overdue-escalations/"),
    ]
