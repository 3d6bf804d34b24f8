"""The demo as a new user meets it: a Ledger member signs in with the demo password, /now
shows the one current incident, and from it she reaches the failing run and its trace."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from batchwatch.demo.loader import DEMO_PASSWORD, load_demo_catalog


def test_a_demo_member_goes_from_now_to_the_current_incidents_run_and_trace(page: Page, db):
    incident = load_demo_catalog().incident
    assert incident is not None
    page.goto("/login/?next=/now/")
    page.get_by_label("User name").fill("bob")  # a member of Ledger, whose on-call is paged
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_title(re.compile(r"^\(1\) Now"))
    page.get_by_role("link", name=f"#{incident.pk} {incident.title}").click()
    alerts = page.locator("table.hub-alerts")
    alerts.get_by_role("link", name=re.compile(r"^run ")).click()
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    page.go_back()
    alerts.get_by_role("link", name="trace", exact=True).click()
    expect(page.locator("#trace")).to_be_in_viewport()
    expect(page.locator("#trace")).to_contain_text(re.compile(r"\d+ spans"))
    page.go_back()

    page.keyboard.press("a")
    expect(page.get_by_text("Acknowledged: the escalation stopped")).to_be_visible()
