"""Silencing a noisy job in context: "Silence this" prefills the form, the preview shows
what it would hold as the matchers are typed, and a refused draft keeps what was typed."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from batchwatch.alerts.models import Incident, Silence
from batchwatch.runs.models import Run
from tests.alerts.conftest import firing, receive


def test_a_member_silences_a_noisy_job_from_its_page_with_a_live_preview(
    page: Page, log_in, teammate, failed_run_incident
):
    incident = failed_run_incident
    job = Run.objects.get().job
    log_in(teammate)
    page.goto(f"/jobs/{job.pk}/")
    page.get_by_role("link", name="Silence this job").click()

    expect(page).to_have_url(re.compile(r"/silences/\?.*#new-silence$"))
    form = page.locator("#new-silence")
    row = form.locator(".matcher-row").first
    expect(row.get_by_label("Label")).to_have_value("job")
    expect(row.get_by_label("Value")).to_have_value(job.key)
    preview = form.locator("[data-preview-body]")
    expect(preview).to_contain_text("1 firing alert and 1 open incident")
    expect(preview.get_by_role("link", name=f"#{incident.pk} {incident.title}")).to_be_visible()

    # The preview follows the matchers as they are typed, without a reload.
    row.get_by_label("Value").fill("spark:prod-spark/another_job")
    expect(preview).to_contain_text("0 firing alerts and 0 open incidents")
    row.get_by_label("Value").fill(job.key)
    expect(preview).to_contain_text("1 firing alert and 1 open incident")

    form.get_by_label("Why").fill("re-running the close by hand")
    form.get_by_role("button", name="Silence", exact=True).click()
    expect(page.get_by_text(re.compile(r"Silence \d+ is active\."))).to_be_visible()
    listed = page.get_by_role("row").filter(has_text="re-running the close by hand")
    expect(listed).to_contain_text(f'job="{job.key}"')
    expect(listed).to_contain_text("active")
    silence = Silence.objects.get()
    assert silence.created_by == teammate


def test_a_refused_silence_keeps_what_was_typed(page: Page, log_in, teammate):
    log_in(teammate)
    page.goto("/silences/")
    form = page.locator("#new-silence")
    row = form.locator(".matcher-row").first
    row.get_by_label("Label").fill("job")
    row.get_by_label("Operator").select_option("=~")
    row.get_by_label("Value").fill("ledger_(close")  # not a regular expression
    form.get_by_label("Why").fill("backfill")
    form.get_by_role("button", name="Silence", exact=True).click()

    expect(form.get_by_role("alert").first).to_be_visible()
    row = form.locator(".matcher-row").first
    expect(row.get_by_label("Value")).to_have_value("ledger_(close")
    expect(row.get_by_label("Operator")).to_have_value("=~")
    expect(form.get_by_label("Why")).to_have_value("backfill")
    assert not Silence.objects.exists()


def test_a_member_silences_one_noisy_alert_of_an_incident_and_s_offers_the_whole_incident(
    page: Page, log_in, teammate, route_tree
):
    labels = {"alertname": "LedgerPartitionLate", "job": "close", "team": "ledger"}
    receive(
        [
            firing({**labels, "partition": "eu"}, summary="EU partition late"),
            firing({**labels, "partition": "us"}, summary="US partition late (noisy)"),
        ],
        datetime.now(UTC),
    )
    incident = Incident.objects.get()
    log_in(teammate)
    page.goto(f"/incidents/{incident.pk}/")

    # 's': the whole incident (its group's labels), both alerts in the preview.
    page.keyboard.press("s")
    expect(page).to_have_url(re.compile(r"/silences/\?.*#new-silence$"))
    preview = page.locator("#new-silence [data-preview-body]")
    expect(preview).to_contain_text("2 firing alerts and 1 open incident")
    expect(preview).to_contain_text("all its alerts")
    page.go_back()

    # "Silence this alert" on the noisy one: that alert alone.
    noisy = page.locator("table.hub-alerts tr").filter(has_text="US partition late (noisy)")
    noisy.get_by_role("link", name="Silence this alert").click()
    form = page.locator("#new-silence")
    preview = form.locator("[data-preview-body]")
    expect(preview).to_contain_text("1 firing alert and 1 open incident")
    expect(preview).to_contain_text("US partition late (noisy)")
    expect(preview).not_to_contain_text("EU partition late")
    expect(preview).to_contain_text("some of its alerts")
    form.get_by_label("Why").fill("known noisy partition, fixed tomorrow")
    form.get_by_role("button", name="Silence", exact=True).click()

    expect(page.get_by_text(re.compile(r"Silence \d+ is active\."))).to_be_visible()
    assert 'partition="us"' in Silence.objects.get().matchers


@pytest.mark.parametrize("timezone_id", ["Europe/Paris"])
def test_a_silence_is_typed_in_the_browsers_time_zone_and_kept_in_utc(page: Page, log_in, teammate):
    log_in(teammate)
    page.goto("/silences/")
    form = page.locator("#new-silence")
    expect(form.locator("[data-tz-label]")).to_have_text("Europe/Paris")
    row = form.locator(".matcher-row").first
    row.get_by_label("Label").fill("job")
    row.get_by_label("Value").fill("spark:prod-spark/ledger_close")
    form.get_by_label("Starts").fill("2030-12-02T09:00")  # 08:00 UTC: Paris is UTC+1 in winter
    form.get_by_label("Ends").fill("2030-12-02T11:30")
    form.get_by_label("Why").fill("planned maintenance")
    form.get_by_role("button", name="Silence", exact=True).click()

    expect(page.get_by_text(re.compile(r"Silence \d+ is scheduled\."))).to_be_visible()
    listed = page.get_by_role("row").filter(has_text="planned maintenance")
    # Listed in the viewer's zone (the browser's, from tz.js), stored in UTC.
    expect(listed).to_contain_text("2030-12-02 09:00 CET")
    expect(listed).to_contain_text("2030-12-02 11:30 CET")
    silence = Silence.objects.get()
    assert silence.starts_at == datetime(2030, 12, 2, 8, 0, tzinfo=UTC)
    assert silence.ends_at == datetime(2030, 12, 2, 10, 30, tzinfo=UTC)
