"""The account page: one's own API tokens (create, list, revoke) and the time zone pages show
times in. Thin: services act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from batchwatch.accounts.middleware import BROWSER_COOKIE, SESSION_KEY, viewer_time_zone
from batchwatch.accounts.models import DEFAULT_LIFETIME, known_time_zones
from batchwatch.accounts.permissions import can_revoke_token
from batchwatch.accounts.selectors import time_zone_of, tokens_of
from batchwatch.accounts.services import create_token, profile_time_zone_set, revoke_token
from batchwatch.core.numbers import parse_id

# What the form offers; the default first after "never" would invite forgetting.
LIFETIMES = {
    "30": timedelta(days=30),
    str(DEFAULT_LIFETIME.days): DEFAULT_LIFETIME,
    "365": timedelta(days=365),
    "never": None,
}


@require_http_methods(["GET", "POST"])
@login_required
def tokens(request):
    now = datetime.now(UTC)
    created = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            return _revoke(request)
        lifetime = request.POST.get("lifetime", str(DEFAULT_LIFETIME.days))
        try:
            if lifetime not in LIFETIMES:
                raise ValidationError("Choose how long the token lives.")
            expiry = LIFETIMES[lifetime]
            token, raw = create_token(
                request.user,
                name=request.POST.get("name", ""),
                expires_at=now + expiry if expiry else None,
                by=request.user,
                request=request,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("web:account-tokens")
        # Shown in this answer only (not through a redirect: the token would travel in the
        # messages cookie); reloading asks the browser to post again, which makes another.
        created = {"token": token, "raw": raw}
    return _page(request, now=now, created=created)


def _page(request, *, now: datetime, created=None, status: int = 200):
    rows = list(tokens_of(request.user))
    for token in rows:
        token.state = token.state_at(now)
    response = render(
        request,
        "accounts/tokens.html",
        {
            "tokens": rows,
            "created": created,
            "lifetimes": [
                ("30", "30 days"),
                (str(DEFAULT_LIFETIME.days), f"{DEFAULT_LIFETIME.days} days"),
                ("365", "1 year"),
                ("never", "Never expires"),
            ],
            "default_lifetime": str(DEFAULT_LIFETIME.days),
            "api_base": request.build_absolute_uri("/api/v1/"),
            "time_zones": sorted(known_time_zones()),
            "time_zone_chosen": time_zone_of(request.user.pk),
            "time_zone_shown": viewer_time_zone(request),
            "browser_time_zone": unquote(request.COOKIES.get(BROWSER_COOKIE, "")),
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


def _revoke(request):
    token_id = parse_id(request.POST.get("token", ""))
    token = tokens_of(request.user).filter(pk=token_id).first() if token_id else None
    if token is None or not can_revoke_token(request.user, token):
        messages.error(request, "No such token of yours.")
    elif token.revoked_at is not None:
        messages.info(request, f"Token {token.name} ({token.prefix}…) was already revoked.")
    else:
        revoke_token(token, by=request.user, request=request)
        messages.success(
            request, f"Token {token.name} ({token.prefix}…) revoked: it no longer works."
        )
    return redirect("web:account-tokens")


@require_POST
@login_required
def time_zone(request):
    """Set the signed-in person's own zone (never anyone else's: there is no user to name)."""
    try:
        chosen = profile_time_zone_set(request.user, time_zone=request.POST.get("time_zone", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _page(request, now=datetime.now(UTC), status=400)
    request.session[SESSION_KEY] = chosen.time_zone
    messages.success(
        request,
        f"Times are now shown in {chosen.time_zone}."
        if chosen.time_zone
        else "Times are now shown in your browser's time zone.",
    )
    return redirect("web:account-tokens")
