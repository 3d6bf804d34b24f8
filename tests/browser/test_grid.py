"""The overview's health grid refreshes itself with the page's filters, without reloading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from batchwatch.catalog import services as catalog
from batchwatch.runs.models import Run, RunSource, RunState, expected_external_id
from tests.browser.conftest import assert_not_reloaded, mark_the_document

PAST_A_GRID_REFRESH_MS = 31_000


def test_a_job_turning_late_shows_late_by_itself_with_the_filters_kept(
    page: Page, log_in, teammate, team_a, team_b
):
    now = datetime.now(UTC).replace(microsecond=0)
    close = catalog.job_create(engine="airflow", namespace="prod", name="ledger_close",
                               owner_team=team_a, schedule_cron="0 2 * * *")  # fmt: skip
    catalog.job_create(engine="airflow", namespace="prod", name="risk_scoring",
                       owner_team=team_b, schedule_cron="0 2 * * *")  # fmt: skip
    yesterday = now - timedelta(days=1, minutes=26)
    Run.objects.create(job=close, external_id="yesterday", state=RunState.SUCCEEDED,
                       scheduled_at=yesterday, expected_at=yesterday, started_at=yesterday,
                       ended_at=yesterday + timedelta(minutes=30),
                       source=RunSource.OTLP)  # fmt: skip
    log_in(teammate)
    page.clock.install()
    page.goto("/?q=ledger&engine=airflow")
    row = page.locator("tr.grid-row", has_text="ledger_close")
    expect(row.get_by_text("OK", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="ledger_close")).to_be_visible()
    mark_the_document(page)

    today = now - timedelta(minutes=26)  # not started: the ledger judged it a late start
    Run.objects.create(job=close, external_id=expected_external_id(today),
                       state=RunState.SCHEDULED, scheduled_at=today, expected_at=today,
                       late_start=True, source=RunSource.LEDGER)  # fmt: skip
    page.clock.run_for(PAST_A_GRID_REFRESH_MS)

    expect(row.get_by_text("Late", exact=True)).to_be_visible()
    expect(row.get_by_role("link", name="late: not started, due 26 min ago")).to_be_visible()
    expect(page.locator("#grid-live")).to_contain_text("Up to date")
    # The refresh asked with the page's filters: the other team's job is still left out.
    expect(page.locator("tr.grid-row")).to_have_count(1)
    expect(page.get_by_text("risk_scoring")).to_have_count(0)
    assert_not_reloaded(page)
