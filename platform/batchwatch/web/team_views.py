"""A team's settings page, ``/teams/<slug>/settings/``: its people and roles, rotation
overrides, ingest keys and alert integrations, its escalation policies and routes.

Members of the team and staff see it; its owners and staff change it (a member may put
herself on call with an override, and take away her own). Thin: ``team_selectors`` reads, the
owning apps' services write (and audit). A refused form is shown again with what was typed
and the reason (400); a destructive action first asks for confirmation; a new secret is shown
in the answer itself, once, never through a redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from batchwatch.alerts.models import Integration
from batchwatch.alerts.services import integration_create, integrations_revoke
from batchwatch.catalog.memberships import (
    member_add,
    member_remove,
    member_role_change,
    person_find,
)
from batchwatch.catalog.models import Membership, Team
from batchwatch.catalog.permissions import can_manage_jobs_of, can_manage_team
from batchwatch.core.links import absolute_url, path_for
from batchwatch.core.numbers import parse_id
from batchwatch.ingest.models import IngestKey
from batchwatch.ingest.services import ingest_key_create, ingest_keys_revoke
from batchwatch.oncall.models import (
    URGENCIES,
    EscalationPolicy,
    EscalationStep,
    Rotation,
    RotationOverride,
    ShiftSwap,
)
from batchwatch.oncall.permissions import (
    can_add_override,
    can_cancel_swap,
    can_delete_override,
    can_offer_swap,
    can_take_swap,
)
from batchwatch.oncall.services import (
    override_create,
    override_delete,
    policy_steps_set,
    swap_cancel,
    swap_offer,
    swap_take,
)
from batchwatch.web.team_policies import (
    parse_steps,
    parse_urgency,
    policy_rows,
    urgency_rows,
    whom_choices,
)
from batchwatch.web.team_routes import (
    route_add_action,
    route_delete_action,
    route_edit_action,
    route_forms,
)
from batchwatch.web.team_selectors import (
    rotation_overrides_upcoming,
    rotation_swaps_ahead,
    team_memberships,
    team_settings,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

# What a destructive action asks before it acts, by action.
CONFIRM = {
    "member-remove": "Take {what} out of {team}?",
    "override-delete": "Remove the override {what}?",
    "swap-cancel": "Cancel the swap {what}?",
    "key-revoke": "Revoke the ingest key {what}? Senders using it are refused from now on.",
    "integration-revoke": (
        "Revoke the integration {what}? Alerts sent with its token are refused from now on."
    ),
    "route-delete": "Remove the route {what}? The team's alerts go on to the other routes.",
}
INTAKE_URLS = {
    Integration.Kind.ALERTMANAGER: ("intake-am", "Authorization: Bearer <token>"),
    Integration.Kind.WEBHOOK: ("intake-webhook", "Authorization: Bearer <token>"),
    Integration.Kind.PAGERDUTY: ("intake-pagerduty", "the token as routing_key in the body"),
}


class Done(Exception):
    """An action's answer other than the page again: a redirect, a confirmation."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _now() -> datetime:
    return datetime.now(UTC)


@require_http_methods(["GET", "POST"])
@login_required
def team_settings_page(request: HttpRequest, slug: str) -> HttpResponse:
    team = get_object_or_404(Team, slug=slug)
    if not can_manage_jobs_of(request.user, team):  # members and staff
        return render(request, "web/team_settings_denied.html", {"team": team}, status=403)
    if request.method == "GET":
        return _render(request, team)
    action = request.POST.get("action", "")
    handler = ACTIONS.get(action)
    try:
        if handler is None:
            raise ValidationError("Unknown action.")
        created = handler(request, team)
    except Done as done:
        return done.response
    except ValidationError as exc:
        return _render(request, team, failed=action, errors=_sentences(exc), status=400)
    if created is not None:
        response = _render(request, team, created=created)
        response["Cache-Control"] = "no-store"  # it holds a secret, shown this once
        return response
    return redirect(_next(request, team))


def _render(
    request: HttpRequest,
    team: Team,
    *,
    failed: str = "",
    errors: list[str] | None = None,
    created: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    now = _now()
    data = team_settings(team, now=now)
    can_manage = can_manage_team(request.user, team)
    for rotation in data.rotations:
        _mark_deletable(request, rotation.upcoming, can_manage=can_manage)  # type: ignore[attr-defined]
        _mark_swaps(request, rotation.swaps_ahead, can_manage=can_manage)  # type: ignore[attr-defined]
    for policy in data.policies:
        refused = failed == "policy-steps" and request.POST.get("policy") == policy.slug
        policy.rows = policy_rows(policy, request.POST if refused else None)  # type: ignore[attr-defined]
        policy.urgency_rows = urgency_rows(policy, request.POST if refused else None)  # type: ignore[attr-defined]
        policy.refused = refused  # type: ignore[attr-defined]
        for step in policy.steps.all():  # prefetched: the rows the template lists
            step.minutes = int(step.wait.total_seconds() // 60)  # type: ignore[attr-defined]
    return render(
        request,
        "web/team_settings.html",
        {
            "team": team,
            "data": data,
            "can_manage": can_manage,
            "override_people": _override_people(request, data.memberships, can_manage),
            "override_zone": data.rotations[0].timezone if data.rotations else "UTC",
            "member_ids": {m.user_id for m in data.memberships},
            "roles": Membership.Role.choices,
            "kinds": Integration.Kind.choices,
            "step_targets": EscalationStep.Target.choices,
            "urgencies": URGENCIES,
            "whom_choices": whom_choices(team) if can_manage and data.policies else [],
            "route_add": route_forms(request, team, data.team_routes, failed),
            "failed": failed,
            "errors": errors or [],
            # What was typed, when a form is refused; empty otherwise.
            "form": request.POST if failed else {},
            "created": created,
            "now": now,
        },
        status=status,
    )


def _mark_deletable(
    request: HttpRequest,
    overrides: list[RotationOverride],
    *,
    can_manage: bool,
    is_member: bool = True,
) -> None:
    # As oncall.permissions.can_delete_override decides, without a query per row.
    for override in overrides:
        own = request.user.pk in {override.user_id, override.created_by_id}
        override.deletable = can_manage or (is_member and own)  # type: ignore[attr-defined]


def _mark_swaps(
    request: HttpRequest, swaps: list[ShiftSwap], *, can_manage: bool, is_member: bool = True
) -> None:
    # As oncall.permissions decides for taking and cancelling, without a query per row.
    for swap in swaps:
        mine = request.user.pk in {swap.requester_id, swap.taker_id}
        swap.takeable = (  # type: ignore[attr-defined]
            is_member
            and swap.state == ShiftSwap.State.OPEN
            and request.user.pk != swap.requester_id
        )
        swap.cancellable = can_manage or (is_member and mine)  # type: ignore[attr-defined]


def _override_people(request: HttpRequest, memberships: list[Membership], can_manage: bool) -> list:
    """Whom the override form offers: the team for its owners, herself for a member."""
    people = [m.user for m in memberships]
    return people if can_manage else [p for p in people if p.pk == request.user.pk]


def rotation_overrides_context(request: HttpRequest, rotation: Rotation, now: datetime) -> dict:
    """What the rotation page shows of overrides: those ahead, and the form for the team's
    people (staff too); read by ``oncall_views.rotation_page``."""
    team = rotation.team
    memberships = list(team_memberships(team))
    can_manage = can_manage_team(request.user, team)
    overrides = rotation_overrides_upcoming([rotation.pk], now)[rotation.pk]
    swaps = rotation_swaps_ahead([rotation.pk], now)[rotation.pk]
    is_member = can_manage or any(m.user_id == request.user.pk for m in memberships)
    _mark_deletable(request, overrides, can_manage=can_manage, is_member=is_member)
    _mark_swaps(request, swaps, can_manage=can_manage, is_member=is_member)
    return {
        "overrides": overrides,
        "swaps": swaps,
        "override_form": is_member,
        "override_people": _override_people(request, memberships, can_manage),
        "override_zone": rotation.timezone,
        "team": team,
        "form": {},
    }


def _sentences(exc: ValidationError) -> list[str]:
    return list(exc.messages)


def _next(request: HttpRequest, team: Team) -> str:
    # Only our own pages: the override form on a rotation's page returns there.
    rotation = request.POST.get("next_rotation")
    if rotation and Rotation.objects.filter(team=team, slug=rotation).exists():
        return path_for("web:rotation", rotation)
    return path_for("web:team-settings", team.slug)


def _owner_only(request: HttpRequest, team: Team) -> None:
    if not can_manage_team(request.user, team):
        raise ValidationError("Only the team's owners (or an admin) may do this.")


def _confirm(request: HttpRequest, team: Team, action: str, what: str) -> None:
    """Ask first, unless the form says it was asked (``confirmed=yes``)."""
    if request.POST.get("confirmed") == "yes":
        return
    fields = [
        (name, value)
        for name, value in request.POST.items()
        if name not in {"csrfmiddlewaretoken", "confirmed"}
    ]
    raise Done(
        render(
            request,
            "web/team_settings_confirm.html",
            {
                "team": team,
                "question": CONFIRM[action].format(what=what, team=team.name),
                "fields": fields,
                "button": "Yes, " + action.split("-")[-1],
            },
        )
    )


# --- members -----------------------------------------------------------------------------


def _membership(request: HttpRequest, team: Team) -> Membership:
    membership = (
        Membership.objects.select_related("user", "team")
        .filter(team=team, user__username=request.POST.get("member", ""))
        .first()
    )
    if membership is None:
        raise ValidationError("No such member of this team.")
    return membership


def member_add_action(request: HttpRequest, team: Team) -> None:
    _owner_only(request, team)
    user = person_find(request.POST.get("member_user", ""))
    membership = member_add(
        team,
        user=user,
        role=request.POST.get("member_role", Membership.Role.MEMBER),
        actor=request.user,
        request=request,
    )
    messages.success(
        request, f"{user.get_username()} is now in {team.name} ({membership.get_role_display()})."
    )


def member_role_action(request: HttpRequest, team: Team) -> None:
    _owner_only(request, team)
    membership = _membership(request, team)
    member_role_change(
        membership, role=request.POST.get("role", ""), actor=request.user, request=request
    )
    messages.success(
        request, f"{membership.user.get_username()} is now {membership.get_role_display()}."
    )


def member_remove_action(request: HttpRequest, team: Team) -> None:
    _owner_only(request, team)
    membership = _membership(request, team)
    name = membership.user.get_username()
    _confirm(request, team, "member-remove", name)
    member_remove(membership, actor=request.user, request=request)
    messages.success(request, f"{name} is no longer in {team.name}.")


# --- overrides ---------------------------------------------------------------------------


def _local_instant(raw: str, zone: ZoneInfo, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError({field: f"{raw[:40]!r} is not a date and time."}) from None
    return (value if value.tzinfo else value.replace(tzinfo=zone)).astimezone(UTC)


def _rotation_person_zone(
    request: HttpRequest, team: Team, prefix: str
) -> tuple[Rotation, User, ZoneInfo]:
    """The rotation, the person of the team and the zone an override or swap form names
    (fields ``<prefix>_rotation``, ``<prefix>_user``, ``<prefix>_zone``)."""
    post = request.POST
    rotation = Rotation.objects.filter(team=team, slug=post.get(f"{prefix}_rotation", "")).first()
    if rotation is None:
        raise ValidationError("Choose one of the team's rotations.")
    who = (
        Membership.objects.select_related("user")
        .filter(team=team, user__username=post.get(f"{prefix}_user", ""))
        .first()
    )
    if who is None:
        raise ValidationError("Choose someone of the team.")
    try:
        zone = ZoneInfo(post.get(f"{prefix}_zone") or rotation.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"Unknown time zone {post.get(f'{prefix}_zone', '')[:60]!r}."
        ) from None
    return rotation, who.user, zone


def override_add_action(request: HttpRequest, team: Team) -> None:
    post = request.POST
    rotation, who, zone = _rotation_person_zone(request, team, "override")
    if not can_add_override(request.user, rotation, for_user_id=who.pk):
        raise ValidationError("A member may put only herself on call; owners put anyone.")
    override = override_create(
        rotation,
        user=who,
        starts_at=_local_instant(post.get("override_from", ""), zone, "starts_at"),
        ends_at=_local_instant(post.get("override_to", ""), zone, "ends_at"),
        now=_now(),
        reason=post.get("override_reason", "")[:300],
        actor=request.user,
        request=request,
    )
    messages.success(
        request,
        f"{who.get_username()} is on call for {rotation.name} from "
        f"{override.starts_at.astimezone(zone):%a %Y-%m-%d %H:%M} to "
        f"{override.ends_at.astimezone(zone):%a %Y-%m-%d %H:%M} ({zone.key}).",
    )


def override_delete_action(request: HttpRequest, team: Team) -> None:
    override_id = parse_id(request.POST.get("override", ""))
    override = (
        RotationOverride.objects.select_related("rotation__team", "user")
        .filter(pk=override_id or 0, rotation__team=team)
        .first()
    )
    if override is None:
        raise Http404("No such override of this team.")
    if not can_delete_override(request.user, override):
        raise ValidationError("Only the team's owners, or the person it names, may remove it.")
    what = f"{override.user.get_username()} on {override.rotation.name}"
    _confirm(request, team, "override-delete", what)
    override_delete(override, actor=request.user, request=request)
    messages.success(request, f"Override removed: {what}.")


# --- shift swaps ---------------------------------------------------------------------------


def swap_offer_action(request: HttpRequest, team: Team) -> None:
    post = request.POST
    rotation, who, zone = _rotation_person_zone(request, team, "swap")
    if not can_offer_swap(request.user, rotation, requester_id=who.pk):
        raise ValidationError("A member may offer only her own shifts; owners offer anyone's.")
    swap_offer(
        rotation,
        requester=who,
        starts_at=_local_instant(post.get("swap_from", ""), zone, "starts_at"),
        ends_at=_local_instant(post.get("swap_to", ""), zone, "ends_at"),
        now=_now(),
        actor=request.user,
        request=request,
    )
    messages.success(
        request, f"{who.get_username()}'s shifts on {rotation.name} are offered to the team."
    )


def _swap(request: HttpRequest, team: Team) -> ShiftSwap:
    swap = (
        ShiftSwap.objects.select_related("rotation__team", "requester", "taker")
        .filter(pk=parse_id(request.POST.get("swap", "")) or 0, rotation__team=team)
        .first()
    )
    if swap is None:
        raise Http404("No such swap of this team.")
    return swap


def swap_take_action(request: HttpRequest, team: Team) -> None:
    swap = _swap(request, team)
    if not can_take_swap(request.user, swap):
        raise ValidationError("Someone of the team other than its requester takes a swap.")
    swap_take(swap, taker=request.user, now=_now(), actor=request.user, request=request)
    messages.success(
        request, f"You took {swap.requester.get_username()}'s shifts on {swap.rotation.name}."
    )


def swap_cancel_action(request: HttpRequest, team: Team) -> None:
    swap = _swap(request, team)
    if not can_cancel_swap(request.user, swap):
        raise ValidationError("Only its requester, its taker or an owner cancels a swap.")
    what = f"of {swap.requester.get_username()}'s shifts on {swap.rotation.name}"
    _confirm(request, team, "swap-cancel", what)
    swap_cancel(swap, actor=request.user, request=request)
    messages.success(request, f"Swap {what} cancelled.")


# --- secrets: ingest keys and integrations -----------------------------------------------


def key_create_action(request: HttpRequest, team: Team) -> dict:
    _owner_only(request, team)
    name = request.POST.get("key_name", "").strip()
    if not name:
        raise ValidationError("Name the key after who sends with it, e.g. 'prod Airflow'.")
    key, raw = ingest_key_create(
        name=name[:200], team=team, created_by=request.user, request=request
    )
    return {
        "what": "ingest key",
        "name": key.name,
        "raw": raw,
        "where": absolute_url("otlp-traces"),
        "how": "Authorization: Bearer <key>",
    }


def key_revoke_action(request: HttpRequest, team: Team) -> None:
    _owner_only(request, team)
    key = IngestKey.objects.filter(pk=parse_id(request.POST.get("key", "")) or 0, team=team)
    found = key.first()
    if found is None:
        raise Http404("No such ingest key of this team.")
    _confirm(request, team, "key-revoke", str(found))
    count = ingest_keys_revoke(keys=key, now=_now(), actor=request.user, request=request)
    messages.success(request, f"Ingest key {found} revoked." if count else f"{found} was revoked.")


def integration_create_action(request: HttpRequest, team: Team) -> dict:
    _owner_only(request, team)
    kind = request.POST.get("integration_kind", "")
    integration, raw = integration_create(
        name=request.POST.get("integration_name", "").strip()[:200],
        kind=kind,
        team=team,
        actor=request.user,
        request=request,
    )
    viewname, how = INTAKE_URLS[Integration.Kind(kind)]
    return {
        "what": "integration token",
        "name": str(integration),
        "raw": raw,
        "where": absolute_url(viewname),
        "how": how,
    }


def integration_revoke_action(request: HttpRequest, team: Team) -> None:
    _owner_only(request, team)
    chosen = Integration.objects.filter(
        pk=parse_id(request.POST.get("integration", "")) or 0, team=team
    )
    found = chosen.first()
    if found is None:
        raise Http404("No such integration of this team.")
    _confirm(request, team, "integration-revoke", str(found))
    integrations_revoke(chosen, now=_now(), actor=request.user, request=request)
    messages.success(request, f"Integration {found} revoked.")


# --- escalation policies -----------------------------------------------------------------


def policy_steps_action(request: HttpRequest, team: Team) -> None:
    _owner_only(request, team)
    policy = EscalationPolicy.objects.filter(team=team, slug=request.POST.get("policy", "")).first()
    if policy is None:
        raise Http404("No such escalation policy of this team.")
    steps, repeat = parse_steps(request.POST)
    urgency = parse_urgency(request.POST)
    policy_steps_set(
        policy,
        steps=steps,
        repeat=repeat,
        urgency_by_severity=urgency,
        actor=request.user,
        request=request,
    )
    messages.success(
        request, f"{policy.name}: {len(steps)} step(s), repeated {repeat} more time(s)."
    )


ACTIONS: dict[str, Callable[[HttpRequest, Team], dict | None]] = {
    "member-add": member_add_action,
    "member-role": member_role_action,
    "member-remove": member_remove_action,
    "override-add": override_add_action,
    "override-delete": override_delete_action,
    "swap-offer": swap_offer_action,
    "swap-take": swap_take_action,
    "swap-cancel": swap_cancel_action,
    "key-create": key_create_action,
    "key-revoke": key_revoke_action,
    "integration-create": integration_create_action,
    "integration-revoke": integration_revoke_action,
    "policy-steps": policy_steps_action,
    "route-add": route_add_action,
    "route-edit": route_edit_action,
    "route-delete": partial(route_delete_action, confirm=_confirm),
}
