"""Ingest keys are scoped to their team: a key bound to a team records runs of that team's
jobs only.

An observation carries ``owner_team_id`` = the team of the ingest key that sent it (None for
a key without a team, anonymous development ingest and pollers: those keep recording runs of
any job). Such an observation is recorded only when its job is owned by that team, or is new
and the ownership rules give it to that team (or to nobody, when the key's team becomes its
default owner). Anything else is refused, and its job is not registered either: a key of
*ledger* must not be able to put a failed run on *risk*'s job, which would page *risk*.
Nor are the spans of a refused run stored, nor spans that would hang below another team's run
in a trace (``spans_outside_team``): they would show on that team's run page.
"""

from __future__ import annotations

from collections.abc import Iterable

from batchwatch.catalog.models import Job, job_key
from batchwatch.catalog.selectors import owner_team_for, ownership_rules_active
from batchwatch.catalog.services import ObservedJob
from batchwatch.runs.models import Run, Span
from batchwatch.runs.observations import RunObservation, SpanRecord

# The sentence does not name the other team: the sender learns nothing about who owns what.
NOT_OWNED = (
    "job {key} is not owned by this ingest key's team: its runs are recorded only through a "
    "key of the owning team (or a key without a team)"
)


def registrable(new: list[ObservedJob]) -> list[ObservedJob]:
    """The new jobs a scoped key may register: those the ownership rules give to its team or
    to nobody. One read of the rules, only when a scoped key meets new jobs."""
    if all(entry.default_team_id is None for entry in new):
        return new
    rules = ownership_rules_active()
    kept = []
    for entry in new:
        if entry.default_team_id is not None:
            owner = owner_team_for(
                engine=entry.engine,
                namespace=entry.namespace,
                name=entry.name,
                labels=entry.labels or {},
                rules=rules,
            )
            if owner is not None and owner.pk != entry.default_team_id:
                continue
        kept.append(entry)
    return kept


def outside_team(observations: Iterable[RunObservation], jobs: dict[str, Job]) -> dict[int, str]:
    """The observations (by ``id()``) whose key's team does not own their job, with the
    sentence that refuses each. A job missing from ``jobs`` was not registered for them."""
    refused: dict[int, str] = {}
    for obs in observations:
        if obs.owner_team_id is None:
            continue
        job = jobs.get(obs.job_key)
        if job is None or job.owner_team_id != obs.owner_team_id:
            refused[id(obs)] = NOT_OWNED.format(key=obs.job_key)
    return refused


def outside_team_before_registration(observations: Iterable[RunObservation]) -> dict[int, str]:
    """:func:`outside_team` for queued ingest, which registers no job in the request: the
    observations (by ``id()``) of a team's key about a job another team owns, or about a new
    job the ownership rules give to another team. One read of the jobs, and of the rules only
    when such a key meets new jobs. The drain checks again (a job may change hands meanwhile)."""
    scoped = [obs for obs in observations if obs.owner_team_id is not None]
    if not scoped:
        return {}
    owners = dict(
        Job.objects.filter(key__in={obs.job_key for obs in scoped}).values_list(
            "key", "owner_team_id"
        )
    )
    new = {
        obs.job_key: ObservedJob(
            obs.engine, obs.namespace, obs.job_name, obs.labels, obs.owner_team_id
        )
        for obs in scoped
        if obs.job_key not in owners
    }
    kept = {job_key(e.engine, e.namespace, e.name) for e in registrable(list(new.values()))}
    refused: dict[int, str] = {}
    for obs in scoped:
        if obs.job_key in owners:
            allowed = owners[obs.job_key] == obs.owner_team_id
        else:
            allowed = obs.job_key in kept
        if not allowed:
            refused[id(obs)] = NOT_OWNED.format(key=obs.job_key)
    return refused


# Said of a span kept out of another team's trace; like NOT_OWNED, it names no team.
SPAN_NOT_OWNED = (
    "span {span} belongs to a run this ingest key's team does not own: spans of a trace are "
    "stored only under runs of the key's team"
)


def spans_outside_team(
    spans: list[SpanRecord],
    *,
    team_id: int,
    refused: dict[tuple[str, str], str],
    owned: Iterable[tuple[str, str]],
) -> dict[int, str]:
    """The spans (by ``id()``) a key bound to ``team_id`` may not store, with a sentence each.

    A span belongs to its nearest run: the closest of itself and its ancestors (through this
    request's spans and the stored ones) that is a run's root. ``refused`` are the roots
    ``(trace id, span id)`` of this request's runs that were refused, with their sentence;
    ``owned`` those it records for the key's team; stored runs are read. A span is refused
    when its nearest run is refused or another team's, and when no run of the key's team is
    above it in a trace where another team's run is: a run page shows the spans below its root
    (the whole trace while its root span is missing), and a key of *ledger* must not put spans
    on a page of *risk*'s. Costs one read of the request's traces' runs, and of the stored
    spans' parent links only in traces where another team has a run.
    """
    traces = {s.trace_id for s in spans}
    roots: dict[tuple[str, str], int | None] = {
        (trace_id, root): owner
        for trace_id, root, owner in Run.objects.filter(trace_id__in=traces)
        .exclude(root_span_id="")
        .values_list("trace_id", "root_span_id", "job__owner_team_id")
    }
    roots.update(dict.fromkeys(owned, team_id))
    foreign = {trace for (trace, _), owner in roots.items() if owner != team_id}
    foreign |= {trace for trace, _ in refused}
    foreign &= traces
    if not foreign:
        return {}
    parents = dict(
        ((trace, span), parent)
        for trace, span, parent in Span.objects.filter(trace_id__in=foreign).values_list(
            "trace_id", "span_id", "parent_span_id"
        )
    )
    parents.update(((s.trace_id, s.span_id), s.parent_span_id) for s in spans)
    out: dict[int, str] = {}
    for span in spans:
        if span.trace_id not in foreign:
            continue
        node, seen, verdict = (span.trace_id, span.span_id), set(), None
        while node[1] and node not in seen:
            seen.add(node)
            if node in refused:
                verdict = refused[node]
                break
            if node in roots:
                verdict = "" if roots[node] == team_id else SPAN_NOT_OWNED
                break
            node = (node[0], parents.get(node, ""))
        if verdict is None:  # no run above it, in a trace where another team has one
            verdict = SPAN_NOT_OWNED
        if verdict is SPAN_NOT_OWNED:
            verdict = SPAN_NOT_OWNED.format(span=repr(span.name[:100]))
        if verdict:
            out[id(span)] = verdict
    return out
