"""The audit log page: the events the signed-in user may see, newest first, filterable."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from batchwatch.audit.filters import AuditFilter
from batchwatch.audit.models import AuditEvent
from batchwatch.audit.selectors import audit_events_visible_to, team_model
from batchwatch.core.permissions import is_admin

PAGE_SIZE = 50


@require_GET
@login_required
def audit_log(request):
    visible = audit_events_visible_to(request.user).order_by("-at", "-id")
    found = AuditFilter(request.GET, queryset=visible)
    valid = found.is_valid()
    events = found.qs if valid else visible.none()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    # The page links keep the filters (the page number aside).
    query = request.GET.copy()
    query.pop("page", None)
    filtered = any(request.GET.get(name) for name in ("action", "team", "since", "until"))
    return render(
        request,
        "web/audit.html",
        {
            "page": page,
            "filters": found.form,
            "errors": [] if valid else [f"{f}: {m}" for f, ms in found.errors.items() for m in ms],
            "filtered": filtered,
            "query": query.urlencode(),
            "actions": AuditEvent.Action.choices,
            "teams": team_model().objects.order_by("name").only("slug", "name"),
            "show_ip": is_admin(request.user),
        },
        status=200 if valid else 400,
    )
