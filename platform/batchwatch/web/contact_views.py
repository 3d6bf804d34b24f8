"""The notifications page, ``/account/notifications/``: the signed-in person's own contact
methods (add, verify with a code, send a test page, remove), notification rules per urgency
and quiet hours. Thin: ``accounts.services`` and ``notify.services_contact`` act. Every
object is looked up among the person's own, so another person's id is "no such method"."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from batchwatch.accounts.models import ContactMethod, NotificationRule
from batchwatch.accounts.selectors import contact_methods_of, notification_rules_of, profile_of
from batchwatch.accounts.services import (
    SendTooSoon,
    contact_method_create,
    contact_method_delete,
    contact_method_verify,
    notification_rule_create,
    notification_rule_delete,
    profile_quiet_hours_set,
)
from batchwatch.core.numbers import parse_id
from batchwatch.notify.services_contact import contact_method_send_code, contact_method_test_page

# The delays the form offers (PagerDuty's and Grafana OnCall's usual steps); the API takes
# any minute from 0 to 1440.
DELAYS = [0, 1, 2, 3, 5, 10, 15, 30, 60]
PAGE = "web:account-notifications"


def _own_method(request: HttpRequest) -> ContactMethod:
    method_id = parse_id(request.POST.get("method", ""))
    method = contact_methods_of(request.user).filter(pk=method_id).first() if method_id else None
    if method is None:
        raise ValidationError("No such contact method of yours.")
    return method


def _add(request: HttpRequest, now: datetime) -> str:
    method = contact_method_create(
        request.user,
        kind=request.POST.get("kind", ""),
        address=request.POST.get("address", ""),
        label=request.POST.get("label", ""),
        by=request.user,
        request=request,
    )
    return f"{method} added. Send it a code to verify it."


def _send_code(request: HttpRequest, now: datetime) -> str:
    method = _own_method(request)
    contact_method_send_code(method, now=now)
    return f"A code is on its way to {method}: enter it below."


def _verify(request: HttpRequest, now: datetime) -> str:
    method = contact_method_verify(
        _own_method(request),
        code=request.POST.get("code", ""),
        now=now,
        by=request.user,
        request=request,
    )
    return f"{method} is verified."


def _test(request: HttpRequest, now: datetime) -> str:
    method = _own_method(request)
    contact_method_test_page(method, now=now)
    return f"A test page is on its way to {method}."


def _remove(request: HttpRequest, now: datetime) -> str:
    method = _own_method(request)
    contact_method_delete(method, by=request.user, request=request)
    return f"{method} removed, with its rules."


def _add_rule(request: HttpRequest, now: datetime) -> str:
    text = request.POST.get("delay_minutes", "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 4):
        raise ValidationError("A delay is a number of minutes from 0 to 1440.")
    delay = int(text)
    rule = notification_rule_create(
        request.user,
        urgency=request.POST.get("urgency", ""),
        contact_method=_own_method(request),
        delay_minutes=delay,
        by=request.user,
        request=request,
    )
    return (
        f"Rule added: {rule.get_urgency_display().lower()}, {rule.contact_method} at +{delay} min."
    )


def _remove_rule(request: HttpRequest, now: datetime) -> str:
    rule_id = parse_id(request.POST.get("rule", ""))
    rule = notification_rules_of(request.user).filter(pk=rule_id).first() if rule_id else None
    if rule is None:
        raise ValidationError("No such rule of yours.")
    notification_rule_delete(rule, by=request.user, request=request)
    return "Rule removed."


def _quiet_hours(request: HttpRequest, now: datetime) -> str:
    if request.POST.get("clear"):
        start = end = None
    else:
        start, end = _time(request, "quiet_start"), _time(request, "quiet_end")
    profile_quiet_hours_set(
        request.user,
        start=start,
        end=end,
        by=request.user,
        request=request,
    )
    if start is None:
        return "No quiet hours: low-urgency pages reach you at any time."
    return f"Quiet hours {start:%H:%M} to {end:%H:%M}: low-urgency pages wait until they end."


def _time(request: HttpRequest, name: str) -> time | None:
    text = request.POST.get(name, "").strip()
    if not text:
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{text!r} is not a time of day like 22:00.") from None


ACTIONS = {
    "add": _add,
    "send_code": _send_code,
    "verify": _verify,
    "test": _test,
    "remove": _remove,
    "add_rule": _add_rule,
    "remove_rule": _remove_rule,
    "quiet_hours": _quiet_hours,
}


@require_http_methods(["GET", "POST"])
@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    act = ACTIONS.get(request.POST.get("action", ""))
    if act is None:
        messages.error(request, "Unknown action.")
        return _page(request, status=400)
    try:
        done = act(request, datetime.now(UTC))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _page(request, status=400)
    except SendTooSoon as exc:
        messages.error(request, exc.message)
        response = _page(request, status=429)
        response["Retry-After"] = str(exc.retry_after)
        return response
    messages.success(request, done)
    return redirect(PAGE)


def _page(request: HttpRequest, *, status: int = 200) -> HttpResponse:
    methods = list(contact_methods_of(request.user))
    rules = list(notification_rules_of(request.user))
    profile = profile_of(request.user.pk)
    context: dict[str, Any] = {
        "methods": methods,
        "verified_methods": [m for m in methods if m.is_verified],
        "kinds": ContactMethod.Kind.choices,
        "urgencies": [
            (value, label, [r for r in rules if r.urgency == value])
            for value, label in NotificationRule.Urgency.choices
        ],
        "delays": DELAYS,
        "profile": profile,
        "zone": (profile.time_zone if profile else "") or "UTC",
        "ntfy_url": settings.BATCHWATCH_NTFY_URL,
        "has_high": any(r.urgency == "high" and r.contact_method.is_verified for r in rules),
    }
    response = render(request, "web/account_notifications.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response
