"""Work done once as the web server starts, registered by the apps that own it.

``manage.py serve`` runs every hook before it listens. Apps register theirs in
``AppConfig.ready`` (runbooks load ``runbooks/*.md``, so a deploy brings its runbooks with
it): core, at the bottom of the layers, names none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol


class Output(Protocol):
    def write(self, msg: str) -> None: ...


StartupHook = Callable[[datetime, Output, Output], None]

_hooks: dict[str, StartupHook] = {}


def register(name: str, hook: StartupHook) -> None:
    """Install ``hook(now, stdout, stderr)`` under ``name`` (registering again replaces it)."""
    _hooks[name] = hook


def run_all(*, now: datetime, stdout: Output, stderr: Output) -> None:
    """Every registered hook, in registration order (that of INSTALLED_APPS)."""
    for hook in _hooks.values():
        hook(now, stdout, stderr)
