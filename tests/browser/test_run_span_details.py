"""A large trace's run page reads a row's attributes, events and resource in when the row
opens (run.js over the span details fragment); the failing span's are in the page."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.web.test_run_page import large_trace


def test_a_row_reads_its_details_in_when_it_opens(page: Page, log_in, teammate, team_a):
    run = large_trace(team_a, spans=60)
    log_in(teammate)
    page.goto(f"/runs/{run.pk}/")
    failing = page.locator("details.wf-failing")
    expect(failing).to_contain_text("save at compaction.py:30")  # server-rendered, open
    row = page.locator(f"details:has(> summary#span-{50:016x})")
    expect(row.locator("a.wf-more")).to_have_count(1)
    row.locator("summary").click()
    details = row.locator(".wf-details")
    expect(details).to_contain_text("Attributes")
    expect(details).to_contain_text("save at compaction.py:50")
    expect(details).to_contain_text(f"{50:016x}")
    expect(row.locator("a.wf-more")).to_have_count(0)
