"""What needs the signed-in person now: the Now page and ``GET /api/v1/now/`` read this.

Scoped to the person: the teams they belong to (staff: every team), and incidents assigned to
them. Everything is read through the owning apps' selectors in a fixed number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q

from batchwatch.accounts.selectors import lacking_high_urgency_method
from batchwatch.alerts.models import Incident
from batchwatch.alerts.selectors import incidents_unacknowledged
from batchwatch.catalog.models import Membership, Team
from batchwatch.catalog.permissions import is_admin
from batchwatch.oncall.selectors import OnCallNow, oncall_now, paging_gaps
from batchwatch.runs.models import Run
from batchwatch.runs.selectors import runs_needing_attention
from batchwatch.slo.models import SLOState
from batchwatch.slo.selectors import fastest_burn, runs_at_risk, slo_states_burning

# "Today" for runs: the last day, so a run missed at 23:00 is still there at 03:00.
RUNS_SINCE = timedelta(hours=24)
# Incidents listed on the board: at 3 a.m. the first screenfuls matter (high urgency, oldest
# first); the rest are counted and one link away, and the board stays fast with hundreds.
NOW_INCIDENTS = 25
# On-call entries and teams that cannot be paged listed on the page (staff see every team's:
# a hundred of each is no longer something to read at a glance); the rest are counted, and
# the JSON board (/api/v1/now/) carries them all.
NOW_LIST = 20


@dataclass(frozen=True)
class RunRow:
    run: Run
    kind: str  # missed | late | overrunning | at_risk
    deadline: datetime | None  # late: when it becomes missed; at risk: its SLO's deadline
    note: str


@dataclass(frozen=True)
class SloRow:
    state: SLOState
    burn_rate: float
    burn_window: str  # 3_runs | 7_runs | window

    @property
    def window_label(self) -> str:
        return WINDOW_LABELS.get(self.burn_window, self.burn_window)

    @property
    def budget_left_percent(self) -> float | None:
        left = self.state.budget_remaining_ratio
        return None if left is None else round(left * 100, 1)


WINDOW_LABELS = {"3_runs": "over the last 3 runs", "7_runs": "over the last 7 runs",
                 "window": "over the SLO's window"}  # fmt: skip


@dataclass(frozen=True)
class TeamGap:
    team: Team
    problems: list[str]
    can_fix: bool  # the team's owners and staff change its settings; members ask them


@dataclass
class NowBoard:
    now: datetime
    everything: bool  # staff: every team's, not only their own
    teams: list[Team]
    incidents: list[Incident]
    oncall: list[OnCallNow]
    mine: list[OnCallNow]  # the rotations the person is on call in now
    runs: list[RunRow]
    slos: list[SloRow]
    gaps: list[TeamGap]
    on_time_jobs: int
    unacknowledged: int  # all of them; ``incidents`` holds the first NOW_INCIDENTS
    roles: dict[int, str] = field(default_factory=dict)

    @property
    def more_incidents(self) -> int:
        return self.unacknowledged - len(self.incidents)

    @property
    def oncall_shown(self) -> list[OnCallNow]:
        """The first NOW_LIST on-call entries: nobody on call first, then the viewer's own
        rotations, then the others in their order."""
        mine = {id(e) for e in self.mine}
        ranked = sorted(self.oncall, key=lambda e: (e.user is not None, id(e) not in mine))
        return ranked[:NOW_LIST]

    @property
    def oncall_more(self) -> int:
        return max(0, len(self.oncall) - NOW_LIST)

    @property
    def gaps_shown(self) -> list[TeamGap]:
        return self.gaps[:NOW_LIST]

    @property
    def gaps_more(self) -> int:
        return max(0, len(self.gaps) - NOW_LIST)

    @property
    def title(self) -> str:
        """The page title: the count of unacknowledged incidents first, for the tab."""
        return f"({self.unacknowledged}) Now" if self.incidents else "Now"

    @property
    def quiet(self) -> bool:
        return not self.incidents and not self.runs


def now_board(user, *, now: datetime) -> NowBoard:
    """The Now board of ``user`` (signed in) at ``now``."""
    everything = is_admin(user)
    roles = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
    team_ids = None if everything else sorted(roles)
    teams = list(Team.objects.order_by("name") if everything else Team.objects.filter(pk__in=roles))
    teams.sort(key=lambda t: t.name)
    oncall = oncall_now(team_ids, now)
    gaps = paging_gaps(team_ids)
    for entry in oncall:
        if entry.user is None:
            gaps.setdefault(entry.rotation.team_id, []).append(
                f"nobody is on call in {entry.rotation.name} now"
            )
    runs, on_time = _run_rows(team_ids, now=now)
    incidents, unacknowledged = incidents_unacknowledged(
        team_ids, user_id=user.pk, limit=NOW_INCIDENTS
    )
    return NowBoard(
        now=now,
        everything=everything,
        teams=teams,
        incidents=incidents,
        unacknowledged=unacknowledged,
        oncall=oncall,
        mine=[e for e in oncall if e.user is not None and e.user.pk == user.pk],
        runs=runs,
        slos=[SloRow(s, *reversed(fastest_burn(s))) for s in slo_states_burning(team_ids)],
        gaps=[
            TeamGap(t, gaps[t.pk], everything or roles.get(t.pk) == Membership.Role.OWNER)
            for t in teams
            if t.pk in gaps
        ],
        on_time_jobs=on_time,
        roles=roles,
    )


@dataclass(frozen=True)
class Reach:
    """Whom nothing but their account e-mail would page at high urgency: the person, and
    the members of the teams they own (staff: every team's)."""

    you: bool
    teams: list[tuple[Team, list[str]]]


def now_reach(user, board: NowBoard) -> Reach:
    """The page's notice of who a page would not wake (not the board's: it is not news
    every 15 s). One query."""
    owned = [t for t, role in board.roles.items() if role == Membership.Role.OWNER]
    scope = Q() if board.everything else Q(user=user) | Q(team_id__in=owned)
    rows = lacking_high_urgency_method(Membership.objects.filter(scope)).order_by("user__username")
    people: dict[int, list[str]] = {}
    you = False
    for team_id, user_id, username in rows.values_list("team_id", "user_id", "user__username"):
        you = you or user_id == user.pk
        if board.everything or team_id in owned:
            people.setdefault(team_id, []).append(username)
    return Reach(you=you, teams=[(t, people[t.pk]) for t in board.teams if t.pk in people])


def _run_rows(team_ids: list[int] | None, *, now: datetime) -> tuple[list[RunRow], int]:
    """Missed, late, overrunning and at-risk runs, each once: the soonest deadline first,
    those already past (missed, overrunning) after; and how many jobs ran on time."""
    found = runs_needing_attention(team_ids, now=now, since=now - RUNS_SINCE)
    rows: dict[int, RunRow] = {}
    for run in found.missed:
        rows.setdefault(run.pk, RunRow(run, "missed", None, "never started"))
    for run in found.late:
        assert run.scheduled_at is not None  # (a late run is a scheduled one)
        rows.setdefault(
            run.pk,
            RunRow(run, "late", run.scheduled_at + run.job.miss_grace, "not started yet"),
        )
    for run in found.overrunning:
        limit = run.job.max_runtime
        note = f"running longer than its {_short(limit)} maximum" if limit else "overrunning"
        rows.setdefault(run.pk, RunRow(run, "overrunning", None, note))
    for risk in runs_at_risk(team_ids):
        rows.setdefault(
            risk.run.pk,
            RunRow(risk.run, "at_risk", risk.deadline, f"{risk.slo.name}: {risk.summary}"),
        )
    ordered = sorted(
        rows.values(),
        key=lambda r: (r.deadline is None, r.deadline or now, r.run.scheduled_at or now),
    )
    return ordered, found.on_time_jobs


def _short(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"{minutes} min"
