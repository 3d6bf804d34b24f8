"""The silences page: the list, the form (prefilled by "Silence this", previewed live) and
expiring with a confirmation. Thin: the form's input in ``silence_form``, permissions and
confinement in ``alerts.permissions``, the preview in ``alerts.selectors_silences``. A person
sees the silences and windows of their teams (staff all: ``alerts.selectors_tenancy``); another
team's silence is a 404 to expire."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from batchwatch.alerts import services
from batchwatch.alerts.matchers import OPERATORS
from batchwatch.alerts.models import MaintenanceWindow, Silence
from batchwatch.alerts.permissions import (
    can_change_suppression,
    can_manage_silences,
    confine_matchers,
    suppression_teams,
)
from batchwatch.alerts.selectors_silences import (
    SilencePreview,
    preview_team_ids,
    silence_preview,
)
from batchwatch.alerts.selectors_tenancy import maintenance_visible_to, silences_visible_to
from batchwatch.catalog.models import Team
from batchwatch.catalog.permissions import is_admin
from batchwatch.web.silence_form import (
    MatcherRow,
    SilenceDraft,
    draft_from_post,
    draft_from_query,
    draft_matchers,
    draft_times,
)

# The fields of silence_create's and confine_matchers' errors that the form shows in place.
_FIELDS = {"matchers", "team", "starts_at", "ends_at", "comment"}


def _now() -> datetime:
    return datetime.now(UTC)


def _error_on(draft: SilenceDraft, exc: ValidationError | PermissionDenied) -> None:
    """Put a refusal next to the field it is about (a refused team by name, or the
    matchers that name it)."""
    if isinstance(exc, PermissionDenied):
        draft.add_error("team" if draft.team else "matchers", str(exc))
        return
    if not hasattr(exc, "error_dict"):
        draft.add_error("form", " ".join(exc.messages))
        return
    for key, errors in exc.message_dict.items():
        draft.add_error(key if key in _FIELDS else "form", " ".join(errors))


def _preview(request, matchers: list[str] | None) -> SilencePreview | None:
    if matchers is None:
        return None
    try:
        return silence_preview(matchers, visible_team_ids=preview_team_ids(request.user))
    except ValueError:  # a stored silence whose matchers no longer parse
        return None


def _confined(request, draft: SilenceDraft) -> list[str] | None:
    """The draft's matchers as the silence would store them, or None with the errors set."""
    matchers = draft_matchers(draft)
    if draft.errors:
        return None
    try:
        return confine_matchers(request.user, matchers, team=draft.team)
    except (ValidationError, PermissionDenied) as exc:
        _error_on(draft, exc)
        return None


@require_http_methods(["GET", "POST"])
@login_required
def silences(request):
    if request.method == "GET":
        draft = draft_from_query(request.GET)
        preview = None
        if draft.rows and can_manage_silences(request.user):
            matchers = _confined(request, draft)
            preview = _preview(request, matchers)
        return _render(request, draft, preview=preview)
    if request.POST.get("action") == "expire":
        return _expire(request)
    if not can_manage_silences(request.user):
        messages.error(request, "Only members of a team (or an admin) may silence alerts.")
        return redirect("web:silences")
    return _create(request)


def _create(request):
    """Create the silence, or (``action=preview``, the form without scripts) show what it
    would hold; a refused draft comes back as typed, with 400."""
    now = _now()
    draft = draft_from_post(request.POST)
    matchers = _confined(request, draft)
    times = draft_times(draft, now=now)
    if not draft.comment.strip() and request.POST.get("action") != "preview":
        # silence_create says so too; said here, it comes with the form's other errors.
        draft.add_error("comment", "Say why (it is what the next on-call reads).")
    if matchers is None or times is None or draft.errors:
        return _render(request, draft, status=400)
    if request.POST.get("action") == "preview":
        return _render(request, draft, preview=_preview(request, matchers))
    try:
        silence = services.silence_create(
            matchers=matchers,
            starts_at=times[0],
            ends_at=times[1],
            comment=draft.comment,
            created_by=request.user,
            now=now,
            request=request,
        )
    except ValidationError as exc:
        _error_on(draft, exc)
        return _render(request, draft, status=400)
    state = silence.state_at(now)
    messages.success(
        request, f"Silence {silence.pk} is {'active' if state == 'active' else 'scheduled'}."
    )
    return redirect("web:silences")


def _expire(request):
    """Expiring asks first: the confirmation page says what comes back; its form sends
    ``confirm=1``."""
    silence = get_object_or_404(
        silences_visible_to(request.user), pk=_silence_id(request.POST.get("silence"))
    )
    if not can_change_suppression(request.user, silence):
        messages.error(
            request,
            "Only members of the silence's team (or an admin) may expire it."
            if suppression_teams(silence.matchers)
            else "This silence holds every team's alerts: only an admin may expire it.",
        )
        return redirect("web:silences")
    now = _now()
    if request.POST.get("confirm") != "1":
        return render(
            request,
            "web/silence_expire.html",
            {
                "silence": silence,
                "state": silence.state_at(now),
                "teams": sorted(suppression_teams(silence.matchers)),
                "preview": _preview(request, list(silence.matchers)),
            },
        )
    services.silence_expire(silence=silence, now=now, actor=request.user, request=request)
    messages.success(request, f"Silence {silence.pk} expired.")
    return redirect("web:silences")


def _silence_id(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        return 0  # no such silence: a 404


def _listing(user, now: datetime) -> dict:
    staff = is_admin(user)
    # The teams a silence may be for: a member's own (confine_matchers refuses others), any
    # for staff, who may also leave it global.
    teams = list(
        Team.objects.order_by("name")
        if staff
        else Team.objects.filter(memberships__user=user).order_by("name")
    )
    mine = {t.slug for t in teams}
    silences = Silence.objects.select_related("created_by").order_by("-starts_at")
    rows = list(silences_visible_to(user, silences)[:200])
    windows = maintenance_visible_to(user, MaintenanceWindow.objects.order_by("starts_at"))
    for silence in rows:
        silence.state = silence.state_at(now)
        silence.teams = sorted(suppression_teams(silence.matchers))
        # As can_change_suppression decides, without a query per row.
        silence.can_expire = staff or bool(mine.intersection(silence.teams))
    return {
        "silences": rows,
        "windows": windows[:200],
        "can_manage": staff or bool(teams),
        "teams": teams,
        "may_be_global": staff,
    }


def _render(request, draft: SilenceDraft, *, preview: SilencePreview | None = None, status=200):
    # One blank row to add a matcher without scripts (the script adds more).
    rows = [*draft.rows, MatcherRow()]
    return render(
        request,
        "web/silences.html",
        {
            **_listing(request.user, _now()),
            "draft": draft,
            "rows": rows,
            "operators": OPERATORS,
            "preview": preview,
        },
        status=status,
    )
