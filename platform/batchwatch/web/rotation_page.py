"""What the rotation page shows beside its layers: the next days' shifts with their real
handoffs in the rotation's zone (and the viewer's, when it differs), who is on call now and
how to reach them, and the rotation's calendar link.

The viewer's zone is the one Django has active for the request (``timezone.get_current_
timezone()``: the person's chosen zone or their browser's, where the accounts middleware sets
it, else the site's). The page is server-rendered and complete without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.http import urlencode

from batchwatch.core.links import path_for
from batchwatch.oncall.models import Rotation
from batchwatch.oncall.schedule import Shift
from batchwatch.slack.models import SlackUserLink

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest

_FORMAT = "%a %Y-%m-%d %H:%M"


def wall_clock(moment: datetime, zone: ZoneInfo) -> str:
    """``Mon 2026-11-02 09:00 EST``: the instant on ``zone``'s clock, with its abbreviation
    (which tells EST from EDT across a DST change)."""
    local = moment.astimezone(zone)
    return f"{local:{_FORMAT}} {local.tzname() or zone.key}"


def viewer_zone() -> ZoneInfo:
    current = timezone.get_current_timezone()
    return current if isinstance(current, ZoneInfo) else ZoneInfo("UTC")


def calendar_context(
    rotation: Rotation,
    shifts: list[Shift],
    names: dict[int | None, str],
    *,
    start: datetime,
    days: int,
) -> dict[str, Any]:
    """The bars of the calendar strip (cut to the window starting at ``start``) and the rows
    of the table (each shift's real start and end; "since" when it began before the wider
    window the schedule was computed over)."""
    zone = ZoneInfo(rotation.timezone)
    viewer = viewer_zone()
    end = start + timedelta(days=days)
    span = (end - start).total_seconds()
    palette: dict[str, int] = {}
    bars = []
    for shift in shifts:
        name = names.get(shift.user_id)
        if name and name not in palette:
            palette[name] = len(palette) % 8
        shown_from, shown_to = max(shift.starts_at, start), min(shift.ends_at, end)
        bars.append(
            {
                "user": name,
                "starts_at": shift.starts_at,
                "ends_at": shift.ends_at,
                "open_start": shift.open_start,
                "open_end": shift.open_end,
                "local_from": wall_clock(shift.starts_at, zone),
                "local_to": wall_clock(shift.ends_at, zone),
                "viewer_from": wall_clock(shift.starts_at, viewer),
                "viewer_to": wall_clock(shift.ends_at, viewer),
                "left": (shown_from - start).total_seconds() / span * 100,
                "width": (shown_to - shown_from).total_seconds() / span * 100,
                "color": palette.get(name or "", "none"),
                "sources": ", ".join(sorted(shift.sources - {"layer"})),
            }
        )
    return {
        "bars": bars,
        # Labels of the strip's columns, the rotation's days (``start`` is midnight there).
        "days": [f"{start.astimezone(zone).date() + timedelta(days=i):%a %d}" for i in range(days)],
        "rotation_zone": zone.key,
        "viewer_zone": viewer.key if viewer.key != zone.key else None,
    }


@dataclass(frozen=True)
class Contact:
    kind: str  # e-mail | slack
    label: str
    url: str


def contacts_of(user: User | None) -> list[Contact]:
    """How to reach the person on call: their e-mail address, and Slack when their account
    is linked to a Slack user (``slack.SlackUserLink``). One query."""
    if user is None:
        return []
    out = []
    if user.email:
        out.append(Contact("e-mail", user.email, "mailto:" + user.email))
    link = SlackUserLink.objects.filter(user=user).first()
    if link is not None:
        query = {"channel": link.slack_user_id}
        if link.slack_team_id:
            query["team"] = link.slack_team_id
        label = "@" + (link.slack_name or link.slack_user_id)
        out.append(Contact("Slack", label, "https://slack.com/app_redirect?" + urlencode(query)))
    return out


def feed_links(request: HttpRequest, rotation: Rotation) -> dict[str, str]:
    """The rotation's calendar link over https and as ``webcal://`` (which calendar apps open
    as a subscription). The link is a credential: callers show it to the team and staff only
    (``oncall.permissions.can_see_rotation_feed``)."""
    url = request.build_absolute_uri(
        path_for("rotation-ical", rotation.slug, query={"token": rotation.feed_token})
    )
    return {"feed_url": url, "webcal_url": webcal(url)}


def webcal(url: str) -> str:
    """``https://host/x.ics`` as ``webcal://host/x.ics`` (``http`` likewise)."""
    scheme, sep, rest = url.partition("://")
    return f"webcal://{rest}" if sep and scheme in {"http", "https"} else url
