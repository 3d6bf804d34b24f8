"""Every page as people see it, on the demo's data: at 1440 px and 390 px (a phone), in the light
and the dark theme. Each is saved as ``var/screenshots/<page>-<width>-<theme>.png`` (CI keeps
the folder), no page scrolls sideways at 390 px, and axe-core finds no serious or critical
accessibility violation (contrast of both themes included).

One tab walks every page: the width and the colour scheme change in place (CSS media queries
follow at once), which keeps 19 pages x 4 variants near a minute."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model
from playwright.sync_api import Browser, BrowserContext, Page

from batchwatch.accounts.services import contact_method_create
from batchwatch.alerts.services.action_links import action_links_create
from batchwatch.demo.loader import load_demo_catalog
from batchwatch.oncall.models import Rotation
from batchwatch.runbooks.models import Runbook
from batchwatch.runbooks.services import runbooks_sync
from batchwatch.runs.models import Run, Span

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots"
WIDTHS = {1440: 900, 390: 844}  # width: height (an iPhone 12-14 at 390)
THEMES = ("light", "dark")
REPORTED = {"serious", "critical"}


@dataclass(frozen=True)
class Shown:
    name: str
    path: str
    signed_in: bool = True
    # Third-party pages (Swagger UI) are checked for width only: their markup is not ours.
    axe: bool = True


def _pages() -> list[Shown]:
    """The pages to look at, on the demo's data: Ledger's (alice owns it) first."""
    incident = load_demo_catalog().incident
    assert incident is not None, "the demo opens one current incident"
    runbooks_sync(now=datetime.now(UTC), directory=REPO / "runbooks")
    traced = Span.objects.order_by("-start_time").values_list("trace_id", flat=True).first()
    run = (
        Run.objects.filter(trace_id=traced).first()
        or Run.objects.filter(job__owner_team__slug="ledger").order_by("-started_at").first()
    )
    assert run is not None, "the demo records runs"
    rotation = Rotation.objects.filter(team__slug="ledger").first() or Rotation.objects.first()
    runbook = Runbook.objects.order_by("slug").first()
    assert rotation is not None and runbook is not None
    alice = get_user_model().objects.get(username="alice")
    contact_method_create(alice, kind="sms", address="+14155550123", label="Phone")
    links = action_links_create(
        incident=incident, user_id=alice.pk, channel="email", now=datetime.now(UTC)
    )
    link = next(iter(links.values()))  # its confirmation page (a GET changes nothing)
    return [
        Shown("overview", "/"),
        Shown("team", "/teams/ledger/"),
        Shown("job", f"/jobs/{run.job_id}/"),
        Shown("run", f"/runs/{run.pk}/"),
        Shown("incidents", "/incidents/?state=all"),
        Shown("incident", f"/incidents/{incident.pk}/"),
        Shown("now", "/now/"),
        Shown("rotations", "/rotations/"),
        Shown("rotation", f"/rotations/{rotation.slug}/"),
        Shown("silences", "/silences/"),
        Shown("runbooks", "/runbooks/"),
        Shown("runbook", f"/runbooks/{runbook.slug}/"),
        Shown("account-tokens", "/account/tokens/"),
        Shown("account-notifications", "/account/notifications/"),
        Shown("action-link", "/" + link.split("/", 3)[3]),
        Shown("team-settings", "/teams/ledger/settings/"),
        Shown("audit", "/audit/"),
        Shown("api-docs", "/api/docs/", axe=False),
        Shown("login", "/login/", signed_in=False),
    ]


def _serious(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each."""
    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:4])
        + (f" and {len(v['nodes']) - 4} more" if len(v["nodes"]) > 4 else "")
        for v in found
        if v["impact"] in REPORTED
    ]


def _look_at(page: Page, shown: Shown) -> list[str]:
    """Screenshots of ``shown`` in every variant; what is wrong with it."""
    problems = []
    page.goto(shown.path)
    page.wait_for_load_state("networkidle")
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        for theme in THEMES:
            page.emulate_media(color_scheme=theme)
            variant = f"{shown.name}-{width}-{theme}"
            page.screenshot(path=SCREENSHOTS / f"{variant}.png", full_page=True)
            if width < 700:
                scroll, inner = page.evaluate(
                    "[document.documentElement.scrollWidth, window.innerWidth]"
                )
                if scroll > inner:
                    problems.append(f"{variant}: {scroll} px wide in a {inner} px window")
            if shown.axe:
                problems += [f"{variant}: {line}" for line in _serious(page)]
    return problems


def test_every_page_fits_a_phone_and_passes_axe_in_both_themes(
    page: Page, context: BrowserContext, log_in: Callable[[object], None]
):
    pages = _pages()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log_in(get_user_model().objects.get(username="alice"))  # owner of Ledger
    problems = []
    for shown in pages:
        if not shown.signed_in:
            context.clear_cookies()
        problems += _look_at(page, shown)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def test_the_theme_toggle_is_kept_and_wins_over_the_system(page: Page, log_in):
    load_demo_catalog()
    log_in(get_user_model().objects.get(username="bob"))
    page.emulate_media(color_scheme="light")
    page.goto("/incidents/")
    toggle = page.get_by_role("button", name="Colour theme: Auto")
    toggle.click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.goto("/now/")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 20, 25)", background
    page.get_by_role("button", name="Colour theme: Dark").click()
    page.get_by_role("button", name="Colour theme: Light").click()
    assert page.evaluate("document.documentElement.dataset.theme") is None  # the system's again


def test_the_phone_menu_opens_without_script_and_the_skip_link_comes_first(
    browser: Browser, live_server, log_in, context: BrowserContext
):
    load_demo_catalog()
    log_in(get_user_model().objects.get(username="bob"))
    scriptless = browser.new_context(
        base_url=live_server.url,
        java_script_enabled=False,
        viewport={"width": 390, "height": 844},
    )
    try:
        scriptless.add_cookies(context.cookies())
        page = scriptless.new_page()
        page.goto("/incidents/")
        silences = page.get_by_role("link", name="Silences")
        assert not silences.is_visible()
        page.locator("details.menu > summary").click()
        silences.click()
        page.wait_for_url("**/silences/")

        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to content")
        assert skip.evaluate("element => element === document.activeElement")
        box = skip.bounding_box()
        assert box is not None and box["y"] >= 0  # on screen once focused
    finally:
        scriptless.close()
