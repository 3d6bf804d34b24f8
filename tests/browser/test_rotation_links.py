"""The rotation page's calendar link: copy.js shows the Copy link button, which copies the link
(or selects it where the clipboard is refused); the webcal:// form is beside it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def test_a_member_copies_the_rotations_calendar_link(page: Page, log_in, teammate, rotation):
    log_in(teammate)
    page.goto(f"/rotations/{rotation.slug}/")
    button = page.get_by_role("button", name="Copy link")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator(".copy-status")).to_have_text(re.compile(r"Copied\.|Selected"))
    webcal = page.get_by_role("link", name="Open in your calendar app (webcal)")
    expect(webcal).to_have_attribute("href", re.compile(r"^webcal://.*\.ics\?token="))
    expect(page.get_by_role("columnheader", name="From (America/New_York)")).to_be_visible()
