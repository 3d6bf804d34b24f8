"""A team's own routes: added, changed and removed by its owners (and staff), audited.

A team route hangs off the root (no parent) and is tried before the configuration's routes
(``alerts.routing.build_tree``). Its matchers always hold ``team="<slug>"``: added when
missing, and a matcher on ``team`` that could name another team is refused, so a team's
route never catches another team's alerts. Its escalation policy and channels are the team's
own. Config as code replaces only the routes of no team (``loading_sections``), and keeps the
time intervals these name when it replaces the intervals (:func:`team_route_intervals_keep`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from batchwatch.alerts.matchers import Matcher, parse_matchers
from batchwatch.alerts.models import Route, TimeInterval
from batchwatch.alerts.permissions import can_change_team_routes
from batchwatch.alerts.routing import ALL_LABELS
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event
from batchwatch.catalog.models import Team
from batchwatch.notify.models import Channel
from batchwatch.oncall.models import EscalationPolicy

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.http import HttpRequest
    from rest_framework.request import Request

TEAM_LABEL = "team"
MAX_MATCHERS = 20
MAX_MATCHER_LENGTH = 500
MAX_GROUP_BY = 20
MAX_CHANNELS = 20
MAX_INTERVALS = 20
MAX_DURATION = timedelta(days=30)
INTERVAL_FIELDS = ("mute_time_intervals", "active_time_intervals")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.]*\Z")


def team_route_matchers(team: Team, *, matchers: Sequence[str]) -> list[str]:
    """The matchers to store for a route of ``team``: ``team="<slug>"`` first, then the
    others as given. ``ValidationError`` for a matcher that does not parse, or one on
    ``team`` other than the team's own equality (it could match another team's alerts)."""
    if isinstance(matchers, str) or not isinstance(matchers, Sequence):
        raise ValidationError({"matchers": 'A list of matchers like severity="critical".'})
    texts = [m.strip() if isinstance(m, str) else m for m in matchers]
    texts = [m for m in texts if m != ""]
    if len(texts) > MAX_MATCHERS:
        raise ValidationError({"matchers": f"At most {MAX_MATCHERS} matchers."})
    if any(isinstance(m, str) and len(m) > MAX_MATCHER_LENGTH for m in texts):
        raise ValidationError(
            {"matchers": f"A matcher has at most {MAX_MATCHER_LENGTH} characters."}
        )
    try:
        parsed = parse_matchers(texts)
    except ValueError as exc:
        raise ValidationError({"matchers": str(exc)}) from exc
    own = Matcher(name=TEAM_LABEL, op="=", value=team.slug)
    for matcher in parsed:
        if matcher.name == TEAM_LABEL and matcher != own:
            raise ValidationError(
                {
                    "matchers": f"{matcher} could match another team's alerts: a route of "
                    f'{team.name} matches only team="{team.slug}" (added for you).'
                }
            )
    return [str(own)] + [text for text, m in zip(texts, parsed, strict=True) if m != own]


def _check_group_by(group_by: list[str] | None) -> None:
    if group_by is None:
        return
    if not isinstance(group_by, list) or len(group_by) > MAX_GROUP_BY:
        raise ValidationError({"group_by": f"At most {MAX_GROUP_BY} label names."})
    if group_by == [ALL_LABELS]:
        return
    for name in group_by:
        if not isinstance(name, str) or not _LABEL.match(name):
            raise ValidationError(
                {"group_by": f"{name!r} is not a label name (or '...' alone for every label)."}
            )


def _check_durations(durations: dict[str, timedelta | None]) -> None:
    for key, value in durations.items():
        if value is None:
            continue
        low = timedelta(0) if key == "group_wait" else timedelta(seconds=1)
        if not low <= value <= MAX_DURATION:
            least = "0 seconds" if key == "group_wait" else "1 second"
            raise ValidationError({key: f"{key.replace('_', ' ')} is between {least} and 30 days."})


def _check_owned(team: Team, policy: EscalationPolicy | None, channels: Sequence[Channel]) -> None:
    if policy is not None and policy.team_id != team.pk:
        raise ValidationError(
            {
                "escalation_policy": f"The escalation policy {policy.slug!r} is not one of "
                f"{team.name}'s policies."
            }
        )
    if len(channels) > MAX_CHANNELS:
        raise ValidationError({"channels": f"At most {MAX_CHANNELS} channels."})
    for channel in channels:
        if channel.team_id != team.pk:
            raise ValidationError(
                {"channels": f"The channel {channel.name!r} is not one of {team.name}'s channels."}
            )


def _intervals(names: Sequence[str], key: str) -> list[TimeInterval]:
    if len(names) > MAX_INTERVALS:
        raise ValidationError({key: f"At most {MAX_INTERVALS} time intervals."})
    found = {i.name: i for i in TimeInterval.objects.filter(name__in=list(names))}
    missing = [name for name in names if name not in found]
    if missing:
        raise ValidationError({key: f"There is no time interval {missing[0]!r}."})
    return [found[name] for name in names]


def _require_owner(team: Team, actor: User | None) -> None:
    if actor is None or not can_change_team_routes(actor, team):
        raise PermissionDenied("Only the team's owners (or an admin) change its routes.")


def _save(
    route: Route,
    *,
    matchers: Sequence[str],
    escalation_policy: EscalationPolicy | None,
    channels: Sequence[Channel],
    group_by: list[str] | None,
    durations: dict[str, timedelta | None],
    mute_time_intervals: Sequence[str],
    active_time_intervals: Sequence[str],
) -> Route:
    team = route.team
    assert team is not None  # callers make team routes only
    route.matchers = team_route_matchers(team, matchers=matchers)
    _check_group_by(group_by)
    _check_durations(durations)
    _check_owned(team, escalation_policy, channels)
    mute = _intervals(mute_time_intervals, "mute_time_intervals")
    active = _intervals(active_time_intervals, "active_time_intervals")
    route.group_by = group_by
    route.escalation_policy = escalation_policy
    for key, value in durations.items():
        setattr(route, key, value)
    route.full_clean()
    route.save()
    route.channels.set(channels)
    route.mute_time_intervals.set(mute)
    route.active_time_intervals.set(active)
    return route


def _record(
    change: str, route: Route, actor: User | None, request: HttpRequest | Request | None
) -> None:
    record_event(
        AuditEvent.Action.ROUTE_CHANGED,
        actor=actor,
        team=route.team,
        target=route,
        target_repr=f"route {route}",
        detail={
            "change": change,
            "name": route.name,
            "matchers": list(route.matchers or []),
            "escalation_policy": route.escalation_policy.slug if route.escalation_policy else None,
        },
        request=request,
    )


@transaction.atomic
def team_route_create(
    team: Team,
    *,
    name: str = "",
    matchers: Sequence[str] = (),
    escalation_policy: EscalationPolicy | None = None,
    channels: Sequence[Channel] = (),
    group_by: list[str] | None = None,
    group_wait: timedelta | None = None,
    group_interval: timedelta | None = None,
    repeat_interval: timedelta | None = None,
    continue_matching: bool = False,
    mute_time_intervals: Sequence[str] = (),
    active_time_intervals: Sequence[str] = (),
    actor: User | None,
    request: HttpRequest | Request | None = None,
) -> Route:
    """A new route of ``team``, after its others (tried before the configuration's routes).
    ``PermissionDenied`` unless ``actor`` owns the team or is staff; ``ValidationError`` with
    a sentence per refused value."""
    _require_owner(team, actor)
    last = Route.objects.filter(team=team).order_by("-position").first()
    route = Route(
        team=team,
        parent=None,
        position=(last.position + 1) if last is not None else 0,
        name=name,
        continue_matching=continue_matching,
    )
    _save(
        route,
        matchers=matchers,
        escalation_policy=escalation_policy,
        channels=channels,
        group_by=group_by,
        durations={
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        mute_time_intervals=mute_time_intervals,
        active_time_intervals=active_time_intervals,
    )
    _record("created", route, actor, request)
    return route


@transaction.atomic
def team_route_update(
    route: Route,
    *,
    name: str,
    matchers: Sequence[str],
    escalation_policy: EscalationPolicy | None,
    channels: Sequence[Channel],
    group_by: list[str] | None,
    group_wait: timedelta | None,
    group_interval: timedelta | None,
    repeat_interval: timedelta | None,
    continue_matching: bool,
    mute_time_intervals: Sequence[str],
    active_time_intervals: Sequence[str],
    actor: User | None,
    request: HttpRequest | Request | None = None,
) -> Route:
    """Replace a team route's fields with these (callers pass the kept values of what does
    not change). The route stays its team's, in its place."""
    if route.team is None:
        raise ValidationError("This route is the configuration's: change it in config as code.")
    _require_owner(route.team, actor)
    locked = Route.objects.select_for_update().get(pk=route.pk)
    locked.name = name
    locked.continue_matching = continue_matching
    _save(
        locked,
        matchers=matchers,
        escalation_policy=escalation_policy,
        channels=channels,
        group_by=group_by,
        durations={
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        mute_time_intervals=mute_time_intervals,
        active_time_intervals=active_time_intervals,
    )
    _record("updated", locked, actor, request)
    return locked


@transaction.atomic
def team_route_delete(
    route: Route,
    *,
    actor: User | None,
    request: HttpRequest | Request | None = None,
) -> None:
    """Remove a team route (its incidents stay, no longer naming it)."""
    if route.team is None:
        raise ValidationError("This route is the configuration's: change it in config as code.")
    _require_owner(route.team, actor)
    _record("deleted", route, actor, request)
    route.delete()


def team_route_intervals_keep() -> Callable[[dict[str, TimeInterval]], None]:
    """Before config as code replaces the time intervals: remember which ones the teams'
    routes name, and return what links them again to the new intervals of the same names
    (a name the new file no longer has is dropped from the route)."""
    kept: list[tuple[str, int, str]] = []
    for key in INTERVAL_FIELDS:
        through: Any = getattr(Route, key).through
        rows = through.objects.filter(route__team__isnull=False).values_list(
            "route_id", "timeinterval__name"
        )
        kept.extend((key, route_id, name) for route_id, name in rows)

    def restore(intervals: dict[str, TimeInterval]) -> None:
        for key in INTERVAL_FIELDS:
            through: Any = getattr(Route, key).through
            through.objects.bulk_create(
                through(route_id=route_id, timeinterval_id=intervals[name].pk)
                for field, route_id, name in kept
                if field == key and name in intervals
            )

    return restore
