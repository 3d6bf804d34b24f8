"""Acting on many incidents from the list: a member narrows it to her own incidents, ticks
every row shown with the header checkbox (incidents.js) and acknowledges them at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from batchwatch.alerts.models import Incident


def _incident(title: str, team, **extra) -> Incident:
    now = datetime.now(UTC)
    return Incident.objects.create(
        title=title,
        team=team,
        group_key=f"{{}}:{{title={title}}}",
        created_at=now - timedelta(minutes=5),
        group_wait=timedelta(seconds=30),
        group_interval=timedelta(minutes=5),
        repeat_interval=timedelta(hours=4),
        **extra,
    )


def test_a_member_filters_mine_and_acknowledges_two_at_once(page: Page, log_in, teammate, team_a):
    mine = [
        _incident("Ledger close failed", team_a, assignee=teammate),
        _incident("Ledger close late", team_a, assignee=teammate),
    ]
    other = _incident("Ledger feed stuck", team_a)
    log_in(teammate)
    page.goto("/incidents/")
    expect(page.get_by_text("Ledger feed stuck")).to_be_visible()

    page.get_by_label("Assigned to me").check()
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/incidents/\?.*mine=1"))
    expect(page.get_by_text("Ledger feed stuck")).to_have_count(0)

    page.get_by_label("Select all shown").check()
    for incident in mine:
        expect(page.get_by_label(f"Select #{incident.pk}")).to_be_checked()
    page.get_by_role("button", name="Acknowledge selected").click()

    expect(page.get_by_text("Acknowledged 2 incidents.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/incidents/\?mine=1$"))
    assert {i.state for i in Incident.objects.filter(pk__in=[i.pk for i in mine])} == {
        "acknowledged"
    }
    other.refresh_from_db()
    assert other.state == "triggered"
