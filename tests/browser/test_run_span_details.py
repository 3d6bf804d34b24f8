"""A large trace's run page reads a row's attributes, events and resource in when the row
opens (run.js over the span details fragment); the failing span's are in the page; the rows
left out of the page are read in place ("show the next 200")."""

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


def test_rows_left_out_are_read_in_place(page: Page, log_in, teammate, team_a):
    run = large_trace(team_a, spans=450)
    log_in(teammate)
    page.goto(f"/runs/{run.pk}/")
    rows = page.locator("#trace summary.wf-row")
    expect(rows).to_have_count(201)  # a window of 200 and the failing span (stage 225)
    gaps = page.locator("#trace .wf-gap[data-src]")
    expect(gaps.locator(".wf-gap-count")).to_have_text(["25", "224"])
    gaps.first.locator("a.wf-next").click()  # the 25 rows above the failing span
    expect(rows).to_have_count(226)
    expect(gaps).to_have_count(1)
    assert rows.nth(224).get_attribute("id") == f"span-{224:016x}"
    assert page.url.endswith(f"/runs/{run.pk}/")  # read in place, not another page
    gaps.first.locator("a.wf-next").click()
    expect(rows).to_have_count(426)
    expect(gaps.locator(".wf-gap-count")).to_have_text("24")
    expect(page.locator(f"#span-{425:016x}")).to_be_attached()
    gaps.first.locator("a.wf-next").click()
    expect(rows).to_have_count(450)
    expect(page.locator("#trace .wf-gap")).to_have_count(0)
