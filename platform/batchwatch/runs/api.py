"""REST API for runs and traces (read-only: runs are written by ingest and the ledger)."""

from __future__ import annotations

import re

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from batchwatch.catalog.models import Engine
from batchwatch.catalog.selectors import by_owner_team
from batchwatch.core.api import UtcDateTimeFilter
from batchwatch.runs.models import Run, RunState, Span
from batchwatch.runs.selectors import run_list, run_span_tree, runs_of_trace, span_tree, trace_spans

TRACE_ID_RE = re.compile(r"^[0-9a-fA-F]{32}$")


class SpanSerializer(serializers.ModelSerializer):
    duration_ms = serializers.FloatField(read_only=True)

    class Meta:
        model = Span
        fields = [
            "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
            "duration_ms", "status_code", "status_message", "service_name", "attributes",
            "events",
        ]  # fmt: skip


class SpanNodeSerializer(serializers.Serializer):
    def to_representation(self, node):
        data = SpanSerializer(node.span).data
        data["children"] = [self.to_representation(child) for child in node.children]
        return data


class RunSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="job.key")
    team = serializers.CharField(source="job.owner_team.slug", default=None)
    engine = serializers.CharField(source="job.engine")
    parent_run = serializers.PrimaryKeyRelatedField(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id", "job", "team", "engine", "external_id", "state", "scheduled_at",
            "started_at", "ended_at", "duration_seconds", "attempt", "failure_reason",
            "trace_id", "root_span_id", "parent_run", "source", "attributes", "url",
            "created_at", "updated_at",
        ]  # fmt: skip

    def get_url(self, run: Run) -> str:
        return f"/runs/{run.pk}/"


class RunDetailSerializer(RunSerializer):
    spans = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "spans"]

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_spans(self, run: Run) -> list[dict]:
        tree = run_span_tree(run)
        return [SpanNodeSerializer().to_representation(root) for root in tree.roots]


class RunFilter(filters.FilterSet):
    job = filters.CharFilter(method="filter_job", help_text="A job key or id.")
    team = filters.CharFilter(method="filter_team", help_text="Team slug; '-' for unowned.")
    state = filters.ChoiceFilter(choices=RunState.choices)
    engine = filters.ChoiceFilter(field_name="job__engine", choices=Engine.choices)
    started_after = UtcDateTimeFilter(field_name="started_at", lookup_expr="gte")
    started_before = UtcDateTimeFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = Run
        fields = ["job", "team", "state", "engine", "started_after", "started_before"]

    def filter_job(self, queryset, name, value):
        if not (value.isascii() and value.isdigit()):
            return queryset.filter(job__key=value)
        if int(value) >= 2**63:  # no such id (and SQLite cannot even compare it)
            return queryset.none()
        return queryset.filter(job_id=int(value))

    def filter_team(self, queryset, name, value):
        return by_owner_team(queryset, value, path="job__owner_team")


class RunViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsAuthenticated]
    filterset_class = RunFilter
    ordering_fields = ["started_at", "ended_at", "duration_seconds", "scheduled_at"]
    search_fields = ["external_id", "job__key", "failure_reason"]

    def get_queryset(self):
        return run_list()

    def get_serializer_class(self):
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer


class TraceSerializer(serializers.Serializer):
    trace_id = serializers.CharField()
    runs = RunSerializer(many=True)
    span_count = serializers.IntegerField()
    truncated = serializers.BooleanField()
    spans = serializers.ListField(child=serializers.JSONField(), help_text="Root spans, each "
                                  "with its children nested.")  # fmt: skip


class TraceView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="A trace: its spans as a tree and the runs in it", responses=TraceSerializer
    )
    def get(self, request, trace_id: str):
        if not TRACE_ID_RE.match(trace_id):
            raise Http404("A trace id is 32 hex characters.")
        spans = trace_spans(trace_id.lower())
        if not spans:
            raise Http404("No spans are stored for this trace.")
        tree = span_tree(spans)
        return Response(
            {
                "trace_id": trace_id.lower(),
                "runs": RunSerializer(runs_of_trace(trace_id.lower()), many=True).data,
                "span_count": len(spans),
                "truncated": tree.truncated,
                "spans": [SpanNodeSerializer().to_representation(r) for r in tree.roots],
            }
        )
