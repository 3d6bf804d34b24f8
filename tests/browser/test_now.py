"""/now, the signed-in home: the current incident, the count in the tab title, live refresh."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from batchwatch.alerts.models import Incident
from tests.alerts.conftest import firing, receive
from tests.browser.conftest import PAST_A_REFRESH_MS, assert_not_reloaded, mark_the_document


def test_now_shows_the_current_incident_and_counts_it_in_the_tab_title(
    page: Page, log_in, teammate, current_incident
):
    log_in(teammate)
    page.goto("/now/")
    expect(page).to_have_title(re.compile(r"^\(1\) Now"))
    waiting = page.get_by_role("region", name="Waiting for acknowledgement")
    link = waiting.get_by_role("link", name=f"#{current_incident.pk} {current_incident.title}")
    expect(link).to_be_visible()

    link.click()
    expect(page).to_have_url(re.compile(rf"/incidents/{current_incident.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(current_incident.title)


def test_now_shows_a_new_incident_by_itself(page: Page, log_in, teammate, route_tree):
    log_in(teammate)
    page.clock.install()
    page.goto("/now/")
    expect(page).to_have_title(re.compile(r"^Now"))
    expect(page.get_by_text("Nothing needs you")).to_be_visible()
    mark_the_document(page)

    receive(
        [firing({"alertname": "LedgerCloseFailed", "job": "close", "team": "ledger"})],
        datetime.now(UTC),
    )
    incident = Incident.objects.get()
    page.clock.run_for(PAST_A_REFRESH_MS)

    expect(page).to_have_title(re.compile(r"^\(1\) Now"))
    expect(page.get_by_role("link", name=f"#{incident.pk} {incident.title}")).to_be_visible()
    assert_not_reloaded(page)


def test_acknowledging_on_now_updates_the_board_in_place(
    page: Page, log_in, teammate, current_incident
):
    log_in(teammate)
    page.goto("/now/")
    mark_the_document(page)
    waiting = page.get_by_role("region", name="Waiting for acknowledgement")
    waiting.get_by_role("button", name="Acknowledge").click()

    expect(waiting.get_by_role("link", name=re.compile(f"#{current_incident.pk} "))).to_have_count(
        0
    )
    expect(page).to_have_title(re.compile(r"^Now"))
    assert_not_reloaded(page)
    current_incident.refresh_from_db()
    assert current_incident.state == Incident.State.ACKNOWLEDGED
    assert current_incident.acknowledged_by == teammate
