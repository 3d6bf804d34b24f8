"""REST API for runs and traces (read-only: runs are written by ingest and the ledger)."""

from __future__ import annotations

import re
from datetime import datetime

from django.http import Http404
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.filters import SearchFilter
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from batchwatch.catalog.models import Engine
from batchwatch.catalog.selectors import by_owner_team
from batchwatch.core.api import UtcDateTimeFilter
from batchwatch.core.links import path_for
from batchwatch.core.pagination import NewestFirstCursorPagination
from batchwatch.runs.models import Run, RunSource, RunState, Span
from batchwatch.runs.selectors import (
    run_attempts,
    run_list,
    run_span_tree,
    runs_of_trace,
    span_tree,
    trace_spans,
)

TRACE_ID_RE = re.compile(r"^[0-9a-fA-F]{32}$")


class SpanSerializer(serializers.ModelSerializer):
    duration_ms = serializers.FloatField(read_only=True)

    class Meta:
        model = Span
        fields = [
            "trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time",
            "duration_ms", "status_code", "status_message", "service_name", "attributes",
            "events", "resource",
        ]  # fmt: skip


class SpanNodeSerializer(serializers.Serializer):
    def to_representation(self, node):
        data = SpanSerializer(node.span).data
        data["children"] = [self.to_representation(child) for child in node.children]
        return data


class StoredDateTimeField(serializers.DateTimeField):
    """A time kept as ISO 8601 in a JSON document, written like every other time of the API."""

    def to_representation(self, value):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return super().to_representation(value)


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    state = serializers.ChoiceField(choices=RunState.choices)
    started_at = StoredDateTimeField(allow_null=True)
    ended_at = StoredDateTimeField(allow_null=True)
    failure_reason = serializers.CharField(allow_blank=True)
    trace_id = serializers.CharField(allow_blank=True, help_text="The trace of the try's span.")
    root_span_id = serializers.CharField(
        allow_blank=True, help_text="The try's own span (Airflow's task_run.<task> of the try)."
    )


class AttemptDetailSerializer(AttemptSerializer):
    spans = serializers.ListField(
        child=serializers.JSONField(),
        help_text="The try's span with everything below it, nested as in `spans`.",
    )


class RunSerializer(serializers.ModelSerializer):
    job = serializers.CharField(source="job.key")
    team = serializers.CharField(source="job.owner_team.slug", default=None, allow_null=True)
    engine = serializers.CharField(source="job.engine")
    parent_run: serializers.PrimaryKeyRelatedField[Run] = serializers.PrimaryKeyRelatedField(
        read_only=True, allow_null=True
    )
    url = serializers.SerializerMethodField()
    sources = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Every source that reported the run, richest first (`source` is the first); "
        f"values as in `source`: {', '.join(RunSource.values)}.",
    )
    attempts = AttemptSerializer(
        source="attempt_facts",
        many=True,
        read_only=True,
        help_text="Each try, oldest first, with its own state, times, failure reason and span.",
    )
    attempts_story = serializers.CharField(
        read_only=True,
        help_text='What became of each try ("failed on try 1 of 2 (OOM), then succeeded"); '
        "empty for a run of one try.",
    )

    class Meta:
        model = Run
        fields = [
            "id", "job", "team", "engine", "external_id", "state", "scheduled_at",
            "started_at", "ended_at", "duration_seconds", "attempt", "failure_reason",
            "trace_id", "root_span_id", "parent_run", "source", "sources", "attributes", "attempts",
            "attempts_story",
            "url", "created_at", "updated_at",
        ]  # fmt: skip

    def get_url(self, run: Run) -> str:
        return path_for("web:run", run.pk)


class RunDetailSerializer(RunSerializer):
    spans = serializers.SerializerMethodField()
    # (the list view's attempts, with each try's spans added: a method field in place of the
    # base class's nested serializer, which the stubs type as the base's field)
    attempts = serializers.SerializerMethodField(  # type: ignore[assignment]
        help_text="Each try, oldest first, with its own state, times, failure reason and "
        "spans (an earlier try's are not in `spans`, which start at the latest try's span)."
    )

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "spans"]

    @staticmethod
    def _tree(run: Run):
        # Cached on the instance: spans and attempts both read the tree of one request's run.
        if not hasattr(run, "_span_tree"):
            setattr(run, "_span_tree", run_span_tree(run))  # noqa: B010
        return getattr(run, "_span_tree")  # noqa: B009

    @extend_schema_field({"type": "array", "items": {"type": "object"}})
    def get_spans(self, run: Run) -> list[dict]:
        return [SpanNodeSerializer().to_representation(root) for root in self._tree(run).roots]

    @extend_schema_field(AttemptDetailSerializer(many=True))
    def get_attempts(self, run: Run) -> list[dict]:
        nodes = SpanNodeSerializer()
        return [
            {
                **AttemptSerializer(view.facts).data,
                "spans": [nodes.to_representation(root) for root in view.tree.roots],
            }
            for view in run_attempts(run, run_tree=self._tree(run))
        ]


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


class RunPagination(NewestFirstCursorPagination):
    field = "started_at"  # (runs.models: the run_started_idx index)


@extend_schema_view(
    list=extend_schema(
        description="Runs, newest start first (runs not started yet before them), a page at a "
        "time: follow `next` and `previous`. The ledger holds millions of runs, so the list is "
        "neither counted nor ordered otherwise."
    )
)
class RunViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [IsAuthenticated]
    filterset_class = RunFilter
    filter_backends = [filters.DjangoFilterBackend, SearchFilter]
    pagination_class = RunPagination
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
