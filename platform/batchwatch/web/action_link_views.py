"""One-time action links (``/a/<token>/``), sent in pages by e-mail, SMS and push.

GET (and HEAD) only show what the link would do: mail security scanners and chat unfurlers
open every link, so opening one must change nothing. The confirmation page's button POSTs
(with Django's CSRF token; no script needed) and that acts, once, as the link's user, without a
sign-in: the link is a bearer credential bound to one person and one incident. Every refusal
is a 4xx page with one sentence (``alerts.action_links``); nothing is changed then.

A push link is the exception to the CSRF check: ntfy's action buttons POST to it from the
phone's app (a deliberate tap, no browser and no cookie), without the confirmation page. The
check adds nothing to a bearer link's safety (whoever could forge the POST holds the secret);
it is kept for the others as every other form's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from batchwatch.alerts.action_links import (
    DONE,
    SNOOZE_FOR,
    ActionLinkRefused,
    ActionToken,
    action_token_parse,
)
from batchwatch.alerts.selectors_action_links import action_link_preview
from batchwatch.alerts.services.action_link_use import action_link_use

TEMPLATE = "web/action_link.html"
PUSH = "push"  # the channel whose links ntfy's buttons POST to from the app


def _private(response):
    # The page's address is a credential: no cache keeps it, no search engine lists it.
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _use(request, token: ActionToken, viewer_id: int | None, now: datetime):
    used = action_link_use(
        token=token, viewer_id=viewer_id, now=now, force=request.POST.get("force") == "1"
    )
    context = {"done": DONE[used.link.action], "link": used.link, "incident": used.incident}
    return _private(render(request, TEMPLATE, context))


_use_from_page = csrf_protect(_use)


def _refused(request, exc: ActionLinkRefused):
    context = {"refusal": exc.message, "incident_id": exc.incident_id}
    return _private(render(request, TEMPLATE, context, status=exc.status))


@csrf_exempt  # checked in the view: every link but a push link's (see above)
@require_http_methods(["GET", "HEAD", "POST"])
def action_link(request, token: str):
    now = datetime.now(UTC)
    viewer_id = request.user.pk if request.user.is_authenticated else None
    try:
        parsed = action_token_parse(token)
        preview = action_link_preview(token=parsed, viewer_id=viewer_id, now=now)
        if request.method == "POST":
            use = _use if preview.link.channel == PUSH else _use_from_page
            return use(request, parsed, viewer_id, now)
    except ActionLinkRefused as exc:
        return _refused(request, exc)
    context = {
        "link": preview.link,
        "incident": preview.incident,
        "firing": preview.firing,
        "snooze_until": now + SNOOZE_FOR,
    }
    return _private(render(request, TEMPLATE, context))
