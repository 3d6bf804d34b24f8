"""POST /api/v1/silences/preview/: what a silence with these matchers would hold now.

A read that takes a body (matchers are a list, as when creating a silence), so a POST that
changes nothing. The matchers are confined as ``POST /api/v1/silences/`` confines them, so a
member previews only what she may silence and the preview is the silence's effect.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, cast

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from batchwatch.alerts.api import TEAM_HELP
from batchwatch.alerts.models import Incident
from batchwatch.alerts.permissions import can_manage_silences, confine_matchers
from batchwatch.alerts.selectors_silences import preview_team_ids, silence_preview

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from rest_framework.request import Request

MAX_MATCHERS = 50


class SilencePreviewInput(serializers.Serializer):
    matchers = serializers.ListField(
        child=serializers.CharField(max_length=1000, trim_whitespace=True),
        max_length=MAX_MATCHERS,
        help_text='Matchers as a silence takes them: ["job=\\"airflow:prod/close\\"", ...].',
    )
    team = serializers.CharField(
        required=False, allow_blank=True, max_length=100, help_text=TEAM_HELP
    )


class PreviewAlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    summary = serializers.CharField(allow_blank=True)
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True))
    suppressed_reason = serializers.CharField(
        allow_blank=True, help_text="Why it is held back already, if it is."
    )


class PreviewIncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(choices=Incident.State.choices)
    team = serializers.CharField(allow_blank=True, help_text="Its team's slug, or empty.")
    all_alerts_match = serializers.BooleanField(
        help_text="Every firing alert of the incident matches: the silence quiets it entirely."
    )


class SilencePreviewSerializer(serializers.Serializer):
    matchers = serializers.ListField(
        child=serializers.CharField(),
        help_text="The matchers the silence would store (a member's with her team's added).",
    )
    alert_count = serializers.IntegerField(help_text="Firing alerts matched now.")
    incident_count = serializers.IntegerField(help_text="Open incidents holding one of them.")
    alerts = PreviewAlertSerializer(many=True, help_text="A few of them, newest first.")
    incidents = PreviewIncidentSerializer(many=True, help_text="A few of them, newest first.")


class SilencePreviewView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        operation_id="silences_preview",
        summary="Preview a silence: the firing alerts and open incidents it would match now",
        tags=["silences"],
        request=SilencePreviewInput,
        responses=SilencePreviewSerializer,
        examples=[
            OpenApiExample(
                "By job",
                value={"matchers": ['job="airflow:prod-airflow/ledger_nightly_close"']},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        user = cast("User", request.user)
        if not can_manage_silences(user):
            raise PermissionDenied("Only members of a team (or an admin) may silence alerts.")
        data = SilencePreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        # As the silence would be stored: a ValidationError (400) or PermissionDenied (403)
        # for matchers she may not use.
        matchers = confine_matchers(
            user, data.validated_data["matchers"], team=data.validated_data.get("team")
        )
        preview = silence_preview(matchers, visible_team_ids=preview_team_ids(user))
        return Response(SilencePreviewSerializer(asdict(preview)).data)
