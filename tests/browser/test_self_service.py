"""A team owner looks after herself and her team on web pages, without Django admin."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect


def test_an_owner_creates_her_own_api_token_and_the_api_accepts_it(page: Page, api, log_in, owner):
    log_in(owner)
    page.goto("/incidents/")
    main_nav = page.get_by_role("navigation", name="Main")
    expect(main_nav).to_be_visible()
    expect(main_nav.get_by_role("link", name="Admin")).to_have_count(0)  # she is not staff

    page.get_by_role("link", name="olivia").click()  # her name in the top bar: her tokens
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Name").fill("laptop scripts")
    page.get_by_label("Expires").select_option(label="30 days")
    page.get_by_role("button", name="Create token").click()

    expect(page.get_by_role("heading", name="Token “laptop scripts” created")).to_be_visible()
    raw = page.get_by_label("Your new API token").input_value()
    assert len(raw) > 20
    row = page.get_by_role("row").filter(has_text="laptop scripts")
    expect(row).to_contain_text(raw[:8])
    expect(row).to_contain_text("active")

    # The token works against the API as her (no session cookie here), and only in full.
    good = api.get("/api/v1/teams/", headers={"Authorization": f"Token {raw}"})
    assert good.status == 200, good.text()
    assert "ledger" in good.text()
    bad = api.get("/api/v1/teams/", headers={"Authorization": f"Token {raw[:-2]}xx"})
    assert bad.status == 401

    # Revoking it from the same page stops it at once.
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("revoked: it no longer works")).to_be_visible()
    gone = api.get("/api/v1/teams/", headers={"Authorization": f"Token {raw}"})
    assert gone.status == 401


def test_an_owner_puts_herself_on_call_with_an_override_on_her_team_page(
    page: Page, log_in, owner, rotation
):
    log_in(owner)
    page.goto("/teams/ledger/")
    page.get_by_role("link", name="Settings: members, overrides, keys").click()
    expect(page.get_by_role("heading", name="Ledger: settings")).to_be_visible()

    # Times are typed in the rotation's zone, which the form offers, and shown in it.
    zone = ZoneInfo(rotation.timezone)
    start = datetime.now(zone).replace(second=0, microsecond=0) - timedelta(minutes=5)
    end = start + timedelta(hours=4)
    form = page.locator("form.override-form")
    expect(form.get_by_label("Time zone")).to_have_value(rotation.timezone)
    form.get_by_label("Rotation").select_option(label="Ledger primary")
    form.get_by_label("Who").select_option(label="olivia")
    form.get_by_label("From").fill(start.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("To").fill(end.strftime("%Y-%m-%dT%H:%M"))
    form.get_by_label("Reason").fill("covering for alice")
    form.get_by_role("button", name="Add override").click()

    expect(page.get_by_text("olivia is on call for Ledger primary from")).to_be_visible()
    row = page.locator("#rotations").get_by_role("row").filter(has_text="covering for alice")
    expect(row).to_contain_text("olivia")
    expect(row).to_contain_text(f"{start:%Y-%m-%d %H:%M}")
    expect(row).to_contain_text(f"{end:%Y-%m-%d %H:%M}")

    # It holds at once: the Now page says she is on call, until the override's end.
    page.goto("/now/")
    expect(page.get_by_text("You are on call for Ledger (Ledger primary) until")).to_be_visible()
