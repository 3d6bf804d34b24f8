"""The ``/batchwatch`` slash command. Answers are ephemeral (only the caller sees them).

Reads and the two acting subcommands are quick database work, answered in the HTTP response
well inside Slack's 3 seconds; the incident message refresh goes through the outbox.
"""

from __future__ import annotations

import shlex
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError

from batchwatch.alerts import services as incidents
from batchwatch.alerts.loading import parse_duration
from batchwatch.alerts.models import Incident
from batchwatch.alerts.permissions import (
    can_act_on_incident,
    can_manage_silences,
    confine_matchers,
)
from batchwatch.alerts.selectors import incidents_query
from batchwatch.catalog.models import Job, Team
from batchwatch.core.links import absolute_url, slack_escape
from batchwatch.core.numbers import parse_id
from batchwatch.oncall.selectors import oncall_for_teams
from batchwatch.slack.blocks import slack_date
from batchwatch.slack.interactions import NOT_ALLOWED, UNLINKED
from batchwatch.slack.selectors import link_for_slack_user
from batchwatch.slack.services import slack_syncs_enqueue
from batchwatch.slack.wire import SlashCommand

HELP = """*/batchwatch* — Batchwatch from Slack
• `/batchwatch oncall [team]` — who is on call now (all teams, or one)
• `/batchwatch incidents [team]` — open incidents
• `/batchwatch ack <incident>` — acknowledge (stops the escalation), e.g. `ack 42` or `ack #42`
• `/batchwatch resolve <incident> [force]` — resolve (force: even with alerts still firing)
• `/batchwatch silence <job> <duration> <reason>` — silence a job's alerts, e.g.
  `silence airflow/ledger/nightly 2h backfill running`
• `/batchwatch help` — this text"""
MAX_LISTED = 15


def _reply(text: str) -> dict:
    return {"response_type": "ephemeral", "text": text}


def _team(slug: str) -> Team | None:
    return Team.objects.filter(slug=slug.lstrip("#")).first()


def _incident(raw: str) -> Incident | None:
    incident_id = parse_id(raw.lstrip("#"))
    if incident_id is None:
        return None
    return Incident.objects.select_related("team").filter(pk=incident_id).first()


def handle_command(command: SlashCommand, *, now: datetime) -> dict:
    try:
        words = shlex.split(command.text)
    except ValueError:
        words = command.text.split()
    verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
    if verb == "help":
        return _reply(HELP)
    link = link_for_slack_user(command.user_id)
    if link is None:
        return _reply(UNLINKED)
    user = link.user
    if verb == "oncall":
        return _oncall(args, now)
    if verb == "incidents":
        return _incidents(args)
    if verb in ("ack", "acknowledge", "resolve"):
        force = verb == "resolve" and len(args) == 2 and args[1].lower() == "force"
        if len(args) != 1 and not force:
            return _reply(f"Usage: `/batchwatch {verb} <incident>`, e.g. `{verb} 42`.")
        incident = _incident(args[0])
        if incident is None:
            return _reply(f"No incident {args[0]}. `/batchwatch incidents` lists the open ones.")
        if not can_act_on_incident(user, incident, now):
            team = incident.team.name if incident.team else "no team"
            return _reply(NOT_ALLOWED.format(team=team, id=incident.pk))
        label = f"{user.get_username()} (Slack)"
        if verb == "resolve":
            try:
                incidents.incident_resolve(
                    incident=incident, now=now, actor=user, actor_label=label, force=force
                )
            except incidents.FiringAlertsError as exc:
                return _reply(
                    f"Incident #{incident.pk}: {exc.firing} alert(s) still firing. "
                    f"`/batchwatch resolve {incident.pk} force` resolves it and them "
                    "(a later firing opens a new incident)."
                )
            done = "resolved"
        else:
            before = incident.state
            incident = incidents.incident_acknowledge(
                incident=incident, now=now, actor=user, actor_label=label
            )
            if before != Incident.State.TRIGGERED:
                return _reply(
                    f"Incident #{incident.pk} is {incident.state}: nothing to acknowledge."
                )
            done = "acknowledged; escalation stopped"
        slack_syncs_enqueue(now=now)
        return _reply(f"Incident #{incident.pk} {done}: {slack_escape(incident.title)}")
    if verb == "silence":
        return _silence(args, user, now)
    return _reply(f"Unknown subcommand `{verb}`.\n\n{HELP}")


def _oncall(args: list[str], now: datetime) -> dict:
    teams = Team.objects.order_by("name")
    if args:
        team = _team(args[0])
        if team is None:
            return _reply(f"No team `{args[0]}`. Teams: " + ", ".join(t.slug for t in teams))
        teams = [team]
    teams = list(teams)
    on_call = oncall_for_teams([t.pk for t in teams], now)
    lines = []
    for team in teams:
        for rotation, person in on_call.get(team.pk, []):
            who = person.get_username() if person else "_nobody_"
            lines.append(f"• *{team.name}* — {rotation.name}: {who}")
    return _reply("*On call now*\n" + "\n".join(lines) if lines else "No rotations are set up.")


def _incidents(args: list[str]) -> dict:
    team = None
    if args:
        team = _team(args[0])
        if team is None:
            return _reply(f"No team `{args[0]}`.")
    rows = list(incidents_query(state="open", team_slug=team.slug if team else None)[:MAX_LISTED])
    if not rows:
        return _reply("No open incidents" + (f" for {team.name}." if team else ". :tada:"))
    lines = [
        f"• <{absolute_url('web:incident', i.pk)}|#{i.pk}> [{i.state}] {slack_escape(i.title)} "
        f"({i.team.name if i.team else 'no team'}"
        + (f", {i.assignee.get_username()}" if i.assignee else "")
        + ")"
        for i in rows
    ]
    return _reply("*Open incidents*\n" + "\n".join(lines))


def _silence(args: list[str], user, now: datetime) -> dict:
    usage = (
        "Usage: `/batchwatch silence <job> <duration> <reason>`, "
        "e.g. `silence airflow/ledger/nightly 2h backfill`."
    )
    if len(args) < 3:
        return _reply(usage)
    job_key, raw_duration, reason = args[0], args[1], " ".join(args[2:])
    if not can_manage_silences(user):
        return _reply("Only members of a team (or admins) may create silences.")
    job = Job.objects.filter(key=job_key).select_related("owner_team").first()
    if job is None:
        return _reply(f"No job `{job_key}` in the catalog (use its key, as on its page).")
    try:
        duration = parse_duration(raw_duration)
    except ValueError as exc:
        return _reply(f"{exc}.\n{usage}")
    try:
        # Confined to the job's team: a member silences only their own teams' alerts.
        matchers = confine_matchers(
            user, [f'job="{job_key}"'], team=job.owner_team.slug if job.owner_team else None
        )
        silence = incidents.silence_create(
            matchers=matchers,
            starts_at=now,
            ends_at=now + duration,
            comment=f"{reason} (from Slack)",
            created_by=user,
            now=now,
        )
    except PermissionDenied as exc:
        return _reply(f"Not silenced: {exc}")
    except ValidationError as exc:
        return _reply("Not silenced: " + " ".join(exc.messages))
    return _reply(f"Silenced `{job_key}` until {slack_date(silence.ends_at)}: {reason}")
