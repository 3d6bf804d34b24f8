"""The channel an incident message goes to when its route names no Slack receiver: the
owning team's own channel, as the app that knows about it says.

Alerts sits below the Slack app, so Slack registers its resolver here at start-up
(``SlackConfig.ready``), as it registers its transports with notify. With none registered
(Slack not installed) a route's receivers are all there is.
"""

from __future__ import annotations

from collections.abc import Callable

from batchwatch.catalog.models import Team
from batchwatch.notify.models import Channel

TeamChannelResolver = Callable[[Team | None], Channel | None]

_resolver: TeamChannelResolver | None = None


def register(resolver: TeamChannelResolver) -> None:
    """Install the resolver of a team's channel (the last registered wins)."""
    global _resolver
    _resolver = resolver


def team_default_channel(team: Team | None) -> Channel | None:
    """The team's own channel, or ``None`` when it has none or nobody resolves it."""
    return None if _resolver is None else _resolver(team)
