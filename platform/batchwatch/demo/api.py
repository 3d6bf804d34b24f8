"""``GET /api/v1/demo/inbox/``: the demo inbox as JSON (the demo only)."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from batchwatch.demo import inbox
from batchwatch.demo.models import InboxMessage


class InboxMessageSerializer(serializers.ModelSerializer):
    payload = serializers.DictField(help_text="What a webhook would have posted (else empty).")

    class Meta:
        model = InboxMessage
        fields = [
            "id",
            "received_at",
            "transport",
            "purpose",
            "address",
            "subject",
            "body",
            "payload",
            "incident_id",
        ]


class DemoInboxView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="demo_inbox",
        summary="The demo inbox: what the demo would have e-mailed, posted or logged",
        parameters=[
            OpenApiParameter(
                "to",
                OpenApiTypes.STR,
                enum=["me"],
                required=False,
                description="`me`: only what was sent to your e-mail address.",
            )
        ],
        responses={
            200: InboxMessageSerializer(many=True),
            404: OpenApiResponse(description="The demo is not loaded: there is no inbox."),
        },
        tags=["demo"],
    )
    def get(self, request: Request) -> Response:
        if not inbox.demo_loaded():
            raise Http404("There is no demo inbox: the demo is not loaded.")
        to = getattr(request.user, "email", "") if request.query_params.get("to") == "me" else None
        messages = inbox.inbox_messages(to=to)
        return Response(InboxMessageSerializer(messages, many=True).data)
