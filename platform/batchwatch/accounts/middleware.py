"""Pages show times in the viewer's zone: the one they chose on their account page, else the
one their browser reported (``static/batchwatch/tz.js`` sets the ``bw_tz`` cookie), else UTC.

The chosen zone is kept in the session (written at sign-in and when changed), so a page costs
no query for it; API and intake requests without a session cookie read nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from django.contrib.auth import SESSION_KEY as USER_SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.db import DatabaseError
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from batchwatch.accounts.models import known_time_zones
from batchwatch.accounts.selectors import time_zone_of

SESSION_KEY = "batchwatch_time_zone"
BROWSER_COOKIE = "bw_tz"
# Machine endpoints keep UTC: DRF writes and reads times in the active zone, and the API,
# the intakes and the feeds promise UTC whoever calls them.
NOT_PAGES = ("/api/", "/v1/", "/v2/", "/ical/", "/slack/", "/metrics", "/healthz", "/readyz")


def viewer_time_zone(request: HttpRequest) -> str:
    """The IANA name of the zone ``request``'s pages show times in."""
    session = getattr(request, "session", None)
    if session is not None and USER_SESSION_KEY in session:
        chosen = session.get(SESSION_KEY)
        if chosen is None:  # a session from before the setting existed
            chosen = time_zone_of(int(session[USER_SESSION_KEY]))
            session[SESSION_KEY] = chosen
        if chosen in known_time_zones():
            return chosen
    browser = unquote(request.COOKIES.get(BROWSER_COOKIE, ""))
    return browser if browser in known_time_zones() else "UTC"


class ViewerTimeZoneMiddleware:
    """Activates the viewer's zone for the request (templates render times in it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(NOT_PAGES):
            return self.get_response(request)
        try:
            zone = viewer_time_zone(request)
        except DatabaseError:
            # The session lives in the database: when it is down, the page still answers
            # (the view's own query turns into EdgeMiddleware's 503), not this middleware's 500.
            zone = "UTC"
        timezone.activate(ZoneInfo(zone))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


@receiver(user_logged_in, dispatch_uid="accounts.remember_time_zone")
def remember_time_zone(sender, request: HttpRequest | None, user, **kwargs) -> None:
    """At sign-in, the person's chosen zone goes into their new session."""
    if request is not None and getattr(request, "session", None) is not None:
        request.session[SESSION_KEY] = time_zone_of(user.pk)
