"""REST API for rotations: who is on call at an instant, the final schedule, iCal feeds."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from batchwatch.catalog.models import Team
from batchwatch.core.api import bounded_instant
from batchwatch.core.links import absolute_url
from batchwatch.oncall.feeds import FeedShift, person_feed_shifts, rotation_feed_shifts
from batchwatch.oncall.ical import Event, calendar, person_from_token
from batchwatch.oncall.models import Rotation
from batchwatch.oncall.selectors import (
    rotation_oncall,
    rotation_schedule,
    rotations_with_layers,
    users_by_id,
)

FEED_PAST = timedelta(days=14)
FEED_AHEAD = timedelta(days=90)
LAST_INSTANT = datetime(9999, 12, 31, tzinfo=UTC)
DEFAULT_SPAN = timedelta(days=14)


def _instant(request, name: str, default: datetime) -> datetime:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        parsed = parse_datetime(raw.replace(" ", "+"))
    except ValueError:  # well formed, but no such time (month 13, offset +25:00)
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValidationError({name: f"{raw[:60]!r} is not an ISO 8601 time with a zone (…Z)."})
    return bounded_instant(parsed, name)


class RotationSerializer(serializers.ModelSerializer):
    team: serializers.SlugRelatedField[Team] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )

    class Meta:
        model = Rotation
        fields = ["id", "slug", "name", "team", "timezone", "description"]


class OnCallSerializer(serializers.Serializer):
    rotation = serializers.CharField()
    at = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True)
    # Named like Field.source, which DRF's metaclass keeps apart from the declared fields.
    source = serializers.CharField()  # type: ignore[assignment]


class ShiftSerializer(serializers.Serializer):
    user = serializers.CharField(allow_null=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()


class RotationViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = RotationSerializer

    def get_queryset(self):
        return rotations_with_layers().order_by("team__name", "name")

    @extend_schema(
        parameters=[OpenApiParameter("at", str, description="ISO 8601 instant; default now")],
        responses=OnCallSerializer,
    )
    @action(detail=True, methods=["get"])
    def oncall(self, request, pk=None):
        """Who is on call at ``at`` (default now): overrides, swaps and layers applied."""
        rotation = self.get_object()
        at = _instant(request, "at", datetime.now(UTC))
        who = rotation_oncall(rotation, at)
        user = users_by_id([who.user_id]).get(who.user_id)
        return Response(
            OnCallSerializer(
                {
                    "rotation": rotation.slug,
                    "at": at,
                    "source": who.source,
                    "user": user.get_username() if user else None,
                }
            ).data
        )

    @extend_schema(
        parameters=[OpenApiParameter("start", str), OpenApiParameter("end", str)],
        responses=ShiftSerializer(many=True),
    )
    # A plain list, neither paged nor filtered (the schema said paged, with limit and search).
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def schedule(self, request, pk=None):
        """The computed final schedule between ``start`` and ``end`` (default: 14 days)."""
        rotation = self.get_object()
        start = _instant(request, "start", datetime.now(UTC))
        end = _instant(request, "end", min(start, LAST_INSTANT - DEFAULT_SPAN) + DEFAULT_SPAN)
        try:
            shifts = rotation_schedule(rotation, start, end)
        except (ValueError, OverflowError) as exc:
            raise ValidationError({"end": str(exc)}) from exc
        users = users_by_id(s.user_id for s in shifts)
        rows = [
            {
                "user": users[s.user_id].get_username() if s.user_id in users else None,
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
            }
            for s in shifts
        ]
        return Response(ShiftSerializer(rows, many=True).data)


def _now() -> datetime:
    return datetime.now(UTC)


def _ics(body: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response


def _event(item: FeedShift, *, person: int | None = None) -> Event:
    rotation, shift = item.rotation, item.shift
    name = item.user.get_username() if item.user else "nobody"
    zone = ZoneInfo(rotation.timezone)
    local = f"{shift.starts_at.astimezone(zone):%a %Y-%m-%d %H:%M} to "
    local += f"{shift.ends_at.astimezone(zone):%a %Y-%m-%d %H:%M} ({rotation.timezone})"
    contact = f" <{item.user.email}>" if item.user and item.user.email else ""
    return Event(
        uid=item.uid(person=person),
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        summary=f"On call: {rotation.name}" if person else f"{name} on call: {rotation.name}",
        sequence=item.sequence,
        changed_at=item.changed_at,
        description=f"{name}{contact} on call in {rotation.name}, {local}.",
        url=absolute_url("web:rotation", rotation.slug),
    )


def rotation_ical(request, slug: str):
    """The rotation's shifts as iCal; the URL carries the rotation's feed token."""
    rotation = get_object_or_404(rotations_with_layers(), slug=slug)
    if not secrets.compare_digest(
        request.GET.get("token", "").encode(), rotation.feed_token.encode()
    ):
        raise Http404("No such feed.")
    now = _now()
    shifts = rotation_feed_shifts(rotation, start=now - FEED_PAST, end=now + FEED_AHEAD)
    events = [_event(item) for item in shifts if item.user is not None]
    return _ics(calendar(f"On call: {rotation.name}", events, now))


def person_ical(request, username: str):
    """A person's shifts across rotations; the URL carries their signed feed token."""
    user = get_object_or_404(get_user_model(), username=username)
    if not person_from_token(user.pk, request.GET.get("token", "")):
        raise Http404("No such feed.")
    now = _now()
    shifts = person_feed_shifts(user.pk, start=now - FEED_PAST, end=now + FEED_AHEAD)
    events = [_event(item, person=user.pk) for item in shifts]
    return _ics(calendar(f"{username}: on call", events, now))
