"""Sign-in lockouts (django-axes): two limits, a 429 page, an audit row per lockout.

django-axes counts wrong passwords per user name and per client address (the settings'
``AXES_LOCKOUT_PARAMETERS``), but compares every criterion with one limit. A user name is
guessed by one person; an address can be a whole office behind a NAT, so it gets a higher
limit (``BATCHWATCH_LOGIN_FAILURES_PER_ADDRESS``). ``LoginAttempts`` gives axes the failures
measured against the per-user limit: the address's failures count in proportion.
"""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Sum
from django.dispatch import receiver
from django.shortcuts import render

from batchwatch.audit.models import AuditEvent
from batchwatch.audit.services import record_event


class LoginAttempts(AxesDatabaseHandler):
    """The database handler of django-axes with a limit per user name and one per address."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        """Failures in the cool-off window, on the scale of ``AXES_FAILURE_LIMIT`` (the per-user
        limit): the user name's, or the address's scaled down, whichever is higher. With 5 per
        user and 20 per address, the 20th failure from an address counts as 5."""
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        username = get_client_username(request, credentials)
        by_user = _failures(recent.filter(username=username)) if username else 0
        by_address = _failures(recent.filter(ip_address=request.axes_ip_address))
        per_user = settings.BATCHWATCH_LOGIN_FAILURES_PER_USER
        per_address = settings.BATCHWATCH_LOGIN_FAILURES_PER_ADDRESS
        return max(by_user, by_address * per_user // per_address)

    def is_allowed(self, request, credentials: dict | None = None) -> bool:
        allowed = super().is_allowed(request, credentials)
        if not allowed:
            # Already locked before this attempt: its failure is no new lockout to audit.
            request.batchwatch_was_locked = True
        return allowed


def attempted_username(request, credentials: dict | None = None) -> str | None:
    """The user name a sign-in tried, as axes stores it (``AXES_USERNAME_CALLABLE``): cut to
    the longest a user name can be. The login form does not limit its length before it
    authenticates, and a longer one than axes' column made PostgreSQL refuse the row (500)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        value = credentials.get(field)
    else:
        value = getattr(request, "data", request.POST).get(field)
    return str(value)[:USERNAME_MAX] if value is not None else None


USERNAME_MAX = 150  # django.contrib.auth's User.username


def _failures(attempts) -> int:
    return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0


def cool_off_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked sign-in gets (web login and admin): 429 with Retry-After. It says
    neither which limit was reached nor whether the user name exists."""
    seconds = cool_off_seconds()
    response = render(
        request,
        "registration/locked.html",
        {"minutes": max(1, round(seconds / 60))},
        status=429,
    )
    # Each attempt while locked starts the cool-off again (axes' default), so the whole
    # cool-off is the honest wait.
    response["Retry-After"] = str(seconds)
    return response


@receiver(user_locked_out)
def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    """One ``login.locked`` event when a sign-in becomes locked, not one per attempt after."""
    if request is None or getattr(request, "batchwatch_was_locked", False):
        return
    record_event(
        AuditEvent.Action.LOGIN_LOCKED,
        target_repr=(username or "")[:200],
        detail={"username": (username or "")[:150], "path": request.path[:200]},
        request=request,
    )
