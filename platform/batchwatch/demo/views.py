"""The demo inbox page: what the demo would have e-mailed, posted or logged."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from batchwatch.demo import inbox


@login_required
def inbox_page(request: HttpRequest) -> HttpResponse:
    """Every signed-in person of the demo reads it (the demo's people are all fictional);
    outside the demo there is no inbox."""
    if not inbox.demo_loaded():
        raise Http404("There is no demo inbox: the demo is not loaded.")
    mine = request.GET.get("to") == "me"
    email = getattr(request.user, "email", "")
    messages = inbox.inbox_messages(to=email if mine else None)
    return render(
        request,
        "demo/inbox.html",
        {"messages_in": messages, "mine": mine, "email": email, "capturing": inbox.is_active()},
    )
