"""``GET /api/v1/now/``: the Now page's board as JSON, for the requesting person."""

from __future__ import annotations

from datetime import UTC, datetime

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from batchwatch.alerts.models import Incident
from batchwatch.core.links import path_for
from batchwatch.web.now import NowBoard, now_board


class NowIncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    urgency = serializers.ChoiceField(choices=Incident.Urgency.choices)
    severity = serializers.CharField(allow_blank=True)
    team = serializers.CharField(allow_null=True, help_text="The team's slug.")
    assignee = serializers.CharField(allow_null=True, help_text="A user name.")
    alert_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    age_seconds = serializers.IntegerField(help_text="How long it has waited, at generated_at.")
    snoozed_until = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(help_text="Its page (a path on this site).")


class NowOnCallSerializer(serializers.Serializer):
    team = serializers.CharField(help_text="The team's slug.")
    rotation = serializers.CharField(help_text="The rotation's slug.")
    rotation_name = serializers.CharField()
    user = serializers.CharField(allow_null=True, help_text="Null: nobody is on call.")
    until = serializers.DateTimeField(
        allow_null=True, help_text="The next handoff; null when not within two weeks."
    )
    is_me = serializers.BooleanField()


class NowRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    job = serializers.CharField(help_text="The job's key.")
    job_id = serializers.IntegerField()
    team = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(choices=["missed", "late", "overrunning", "at_risk"])
    state = serializers.CharField()
    scheduled_at = serializers.DateTimeField(allow_null=True)
    deadline = serializers.DateTimeField(
        allow_null=True,
        help_text="Late: when it will be judged missed. At risk: its SLO's deadline.",
    )
    seconds_to_deadline = serializers.IntegerField(
        allow_null=True, help_text="Negative once the deadline has passed."
    )
    note = serializers.CharField(allow_blank=True)
    url = serializers.CharField()


class NowSloSerializer(serializers.Serializer):
    slo = serializers.CharField(help_text="The SLO's slug.")
    name = serializers.CharField()
    job = serializers.CharField(help_text="The job's key.")
    team = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    burn_rate = serializers.FloatField(help_text="The fastest of its burn rates (1: on budget).")
    burn_window = serializers.CharField(help_text="3_runs, 7_runs or window.")
    budget_remaining_ratio = serializers.FloatField(allow_null=True)


class NowGapSerializer(serializers.Serializer):
    team = serializers.CharField(help_text="The team's slug.")
    team_name = serializers.CharField()
    problems = serializers.ListField(child=serializers.CharField())
    can_fix = serializers.BooleanField(
        help_text="The requester may change the team's settings (an owner, or staff)."
    )


class NowSerializer(serializers.Serializer):
    user = serializers.CharField()
    generated_at = serializers.DateTimeField()
    all_teams = serializers.BooleanField(help_text="Staff see every team's, others their own.")
    teams = serializers.ListField(child=serializers.CharField(), help_text="Slugs in scope.")
    unacknowledged_count = serializers.IntegerField()
    incidents = NowIncidentSerializer(
        many=True,
        help_text="Triggered, of my teams or mine: high urgency, then the oldest; the first 25 "
        "(unacknowledged_count counts them all).",
    )
    oncall = NowOnCallSerializer(many=True)
    runs = NowRunSerializer(many=True, help_text="Late, missed and at risk, last 24 hours.")
    slos = NowSloSerializer(many=True, help_text="Burning error budget fastest.")
    unpageable_teams = NowGapSerializer(many=True)
    on_time_jobs = serializers.IntegerField(help_text="Jobs that ran on time in 24 hours.")


def board_data(board: NowBoard, *, user) -> dict:
    """The board as plain data, in the shape of :class:`NowSerializer`."""
    now = board.now
    return {
        "user": user.get_username(),
        "generated_at": now,
        "all_teams": board.everything,
        "teams": [t.slug for t in board.teams],
        "unacknowledged_count": board.unacknowledged,
        "incidents": [
            {
                "id": i.pk,
                "title": i.title,
                "urgency": i.urgency,
                "severity": i.severity,
                "team": i.team.slug if i.team else None,
                "assignee": i.assignee.get_username() if i.assignee else None,
                "alert_count": i.alert_count,  # type: ignore[attr-defined]
                "created_at": i.created_at,
                "age_seconds": int((now - i.created_at).total_seconds()),
                "snoozed_until": i.snoozed_until,
                "url": path_for("web:incident", i.pk),
            }
            for i in board.incidents
        ],
        "oncall": [
            {
                "team": e.rotation.team.slug,
                "rotation": e.rotation.slug,
                "rotation_name": e.rotation.name,
                "user": e.user.get_username() if e.user else None,
                "until": e.until,
                "is_me": e.user is not None and e.user.pk == user.pk,
            }
            for e in board.oncall
        ],
        "runs": [
            {
                "id": r.run.pk,
                "job": r.run.job.key,
                "job_id": r.run.job_id,
                "team": r.run.job.owner_team.slug if r.run.job.owner_team else None,
                "kind": r.kind,
                "state": r.run.state,
                "scheduled_at": r.run.scheduled_at,
                "deadline": r.deadline,
                "seconds_to_deadline": (
                    int((r.deadline - now).total_seconds()) if r.deadline else None
                ),
                "note": r.note,
                "url": path_for("web:run", r.run.pk),
            }
            for r in board.runs
        ],
        "slos": [
            {
                "slo": s.state.slo.slug,
                "name": s.state.slo.name,
                "job": s.state.job.key,
                "team": s.state.job.owner_team.slug if s.state.job.owner_team else None,
                "status": s.state.status,
                "burn_rate": s.burn_rate,
                "burn_window": s.burn_window,
                "budget_remaining_ratio": s.state.budget_remaining_ratio,
            }
            for s in board.slos
        ],
        "unpageable_teams": [
            {
                "team": g.team.slug,
                "team_name": g.team.name,
                "problems": g.problems,
                "can_fix": g.can_fix,
            }
            for g in board.gaps
        ],
        "on_time_jobs": board.on_time_jobs,
    }


class NowView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="What needs me now",
        description="The Now page as JSON for the requesting person: unacknowledged "
        "incidents of their teams or assigned to them, who is on call, late, missed and "
        "at-risk runs of the last 24 hours with their deadlines, the SLOs burning budget "
        "fastest and the teams that cannot be paged. Staff see every team's.",
        responses=NowSerializer,
    )
    def get(self, request: Request) -> Response:
        board = now_board(request.user, now=datetime.now(UTC))
        return Response(NowSerializer(board_data(board, user=request.user)).data)
