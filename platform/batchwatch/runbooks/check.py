"""``runbooks check``: everything CI should refuse, with the file and line of each problem."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlparse

from batchwatch.runbooks.selection import AlertFacts, best
from batchwatch.runbooks.source import KINDS, Problem, RunbookSource, parse_directory


def check(
    directory: Path,
    *,
    today: date,
    review_days: int = 180,
    slo_slugs: list[str] | tuple[str, ...] = (),
) -> tuple[list[RunbookSource], list[Problem]]:
    if not directory.is_dir():
        return [], [Problem(str(directory), 0, "no such directory")]
    runbooks, problems = parse_directory(directory)
    place = str(directory)
    by_id: dict[str, RunbookSource] = {}
    for runbook in runbooks:
        first = by_id.get(runbook.id)
        if first is not None:
            problems.append(
                Problem(
                    runbook.path,
                    runbook.lines.get("id", 1),
                    f"duplicate id '{runbook.id}' (also {first.path})",
                )
            )
        else:
            by_id[runbook.id] = runbook
    for runbook in runbooks:
        if runbook.last_reviewed > today:
            problems.append(
                Problem(
                    runbook.path,
                    runbook.lines.get("last_reviewed", 1),
                    "last_reviewed is in the future",
                )
            )
        elif today - runbook.last_reviewed > timedelta(days=review_days):
            age = (today - runbook.last_reviewed).days
            problems.append(
                Problem(
                    runbook.path,
                    runbook.lines.get("last_reviewed", 1),
                    f"not reviewed for {age} days (more than {review_days}): read it again, "
                    "fix what changed, update last_reviewed",
                    level="warning",
                )
            )
        for line, target in runbook.links():
            reason = _dead_link(target, Path(runbook.path).parent, directory, by_id)
            if reason:
                problems.append(Problem(runbook.path, line, f"dead link '{target}': {reason}"))
    for kind in KINDS:
        if not any(kind in r.applies_to.kinds and r.applies_to.is_generic for r in runbooks):
            problems.append(
                Problem(
                    place,
                    0,
                    f"no runbook for alert kind '{kind}': add one whose applies_to.kinds lists "
                    "it without narrowing by engine, failure reason or labels",
                )
            )
    for slug in slo_slugs:
        if best(runbooks, AlertFacts.of({"kind": "slo", "slo": slug})) is None:
            problems.append(Problem(place, 0, f"no runbook applies to SLO '{slug}'"))
    return runbooks, problems


def _dead_link(target: str, file_dir: Path, directory: Path, by_id: dict) -> str:
    parsed = urlparse(target)
    if parsed.scheme or target.startswith("#"):
        return ""  # external (http, mailto) or an anchor in this page
    path = parsed.path
    if path.startswith("/runbooks/"):
        runbook_id = path[len("/runbooks/") :].strip("/")
        if runbook_id and runbook_id not in by_id:
            return f"no runbook with id '{runbook_id}'"
        return ""
    if path.startswith("/"):
        return ""  # a Batchwatch page (/incidents/, /jobs/...): rendered relative to the site
    if path.endswith(".md"):
        runbook_id = Path(path).stem
        if not (directory / path).exists() and runbook_id not in by_id:
            return "no such runbook file"
        return ""
    if not (file_dir / path).exists():
        return "no such file"
    return ""
