"""A member signs in through the login form and finds her team's incident in the list."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def test_a_member_logs_in_and_sees_the_incident_list(page: Page, teammate, current_incident):
    page.goto("/incidents/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/incidents/"))
    page.get_by_label("User name").fill("tom")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/incidents/$"))
    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=f"#{current_incident.pk}")
    expect(row).to_contain_text(current_incident.title)
    expect(row).to_contain_text("Triggered")


def test_a_wrong_password_is_refused_and_keeps_the_user_name(page: Page, teammate):
    page.goto("/login/")
    page.get_by_label("User name").fill("tom")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    expect(page.get_by_label("User name")).to_have_value("tom")
