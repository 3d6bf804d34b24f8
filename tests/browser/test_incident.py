"""The incident as the hub: from it to its job, failing run and trace; acting on it with the
keyboard (a, r, n), with a confirmation after each action; notes on its timeline; reopen."""

from __future__ import annotations

import re

from playwright.sync_api import Dialog, Page, expect

from batchwatch.alerts.models import Incident
from batchwatch.runs.models import Run
from tests.browser.conftest import PAST_A_REFRESH_MS, assert_not_reloaded, mark_the_document


def test_from_now_to_the_incident_its_job_run_and_trace(
    page: Page, log_in, teammate, failed_run_incident
):
    incident = failed_run_incident
    run = Run.objects.get()
    log_in(teammate)
    page.goto("/now/")
    page.get_by_role("link", name=f"#{incident.pk} {incident.title}").click()
    expect(page).to_have_url(re.compile(rf"/incidents/{incident.pk}/$"))

    alerts = page.locator("table.hub-alerts")
    expect(alerts).to_contain_text("ledger_close failed")
    expect(alerts).to_contain_text(
        re.compile(r"failed \w{3} \d+, \d\d:\d\d UTC, 1\d\xa0minutes ago")
    )
    expect(alerts).to_contain_text("no run since")

    alerts.get_by_role("link", name="job spark:prod-spark/ledger_close").click()
    expect(page).to_have_url(re.compile(rf"/jobs/{run.job_id}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("ledger_close")
    page.go_back()

    alerts.get_by_role("link", name="run spark-application-1732417200").click()
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/$"))
    expect(page.get_by_text("spark-application-1732417200").first).to_be_visible()
    page.go_back()

    alerts.get_by_role("link", name="trace", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/runs/{run.pk}/#trace$"))
    trace = page.locator("#trace")
    expect(trace).to_be_in_viewport()
    expect(trace).to_contain_text("4bf92f3577b34da6a3ce929d0e0e4736")
    expect(trace).to_contain_text("stage 3: write ledger_balances")


def test_acknowledging_with_the_keyboard_updates_an_open_now_page_by_itself(
    context, page: Page, log_in, teammate, failed_run_incident
):
    incident = failed_run_incident
    log_in(teammate)
    now_tab = context.new_page()
    now_tab.clock.install()
    now_tab.goto("/now/")
    expect(now_tab).to_have_title(re.compile(r"^\(1\) Now"))
    mark_the_document(now_tab)

    page.goto(f"/incidents/{incident.pk}/")
    expect(page.get_by_role("button", name="Acknowledge")).to_be_visible()
    page.keyboard.press("a")

    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator(".pagehead")).to_contain_text("Acknowledged")
    expect(
        page.get_by_text("Acknowledged: the escalation stopped, and it is assigned to you.")
    ).to_be_visible()
    expect(page.get_by_text("Acknowledged by tom")).to_be_visible()
    expect(page.get_by_text("Assignee: tom")).to_be_visible()

    now_tab.clock.run_for(PAST_A_REFRESH_MS)
    expect(now_tab).to_have_title(re.compile(r"^Now"))
    waiting = now_tab.get_by_role("region", name="Waiting for acknowledgement")
    expect(waiting.get_by_role("link", name=re.compile(rf"^#{incident.pk} "))).to_have_count(0)
    assert_not_reloaded(now_tab)


def test_a_note_typed_after_n_lands_on_the_timeline(
    page: Page, log_in, teammate, failed_run_incident
):
    incident = failed_run_incident
    log_in(teammate)
    page.goto(f"/incidents/{incident.pk}/")
    page.keyboard.press("n")
    note = page.get_by_label("Add a note")
    expect(note).to_be_focused()
    page.keyboard.type("rerun: ")  # shortcut letters typed into the box stay text
    page.keyboard.insert_text("Executors OOM on stage 3; re-running with more memory")
    page.get_by_role("button", name="Add note").click()

    timeline = page.locator("ol.itimeline")
    expect(timeline).to_contain_text("rerun: Executors OOM on stage 3; re-running with more memory")
    expect(page.get_by_text("Note added to the timeline.")).to_be_visible()
    expect(timeline.locator("li").filter(has_text="re-running with more memory")).to_contain_text(
        "tom"
    )


def test_resolving_with_r_asks_while_alerts_fire_and_a_resolved_incident_reopens(
    page: Page, log_in, teammate, failed_run_incident
):
    incident = failed_run_incident
    log_in(teammate)
    page.goto(f"/incidents/{incident.pk}/")

    page.once("dialog", lambda dialog: dialog.dismiss())
    page.keyboard.press("r")  # "Resolve incident #…?" answered no: nothing happens
    expect(page.locator(".pagehead")).to_contain_text("Triggered")

    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.keyboard.press("r")
    # Its alert still fires: the page asks again, saying what resolving would do.
    resolve_anyway = page.get_by_role("button", name="Resolve anyway")
    expect(resolve_anyway).to_be_visible()
    assert questions == [f"Resolve incident #{incident.pk}?"]
    resolve_anyway.click()
    expect(page.get_by_text("Resolved.", exact=True)).to_be_visible()
    expect(page.locator(".pagehead")).to_contain_text("Resolved")
    incident.refresh_from_db()
    assert incident.state == Incident.State.RESOLVED

    page.get_by_label("Why reopen").fill("the re-run failed the same way")
    page.get_by_role("button", name="Reopen").click()
    expect(
        page.get_by_text("Reopened: the escalation starts again from its first step.")
    ).to_be_visible()
    expect(page.locator(".pagehead")).to_contain_text("Triggered")
    expect(page.locator("ol.itimeline")).to_contain_text("the re-run failed the same way")
