"""``runbooks_sync``: the files become rows (created, updated, removed), errors reported."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction

from batchwatch.runbooks.models import Runbook
from batchwatch.runbooks.source import Problem, parse_directory

logger = logging.getLogger("batchwatch.runbooks")


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)


def runbooks_sync(*, now: datetime, directory: Path | None = None) -> SyncReport:
    """Load every valid runbook file; an invalid file is reported and its old row kept.

    Runbooks whose file is gone are removed; a duplicate id keeps the first file's.
    """
    directory = directory or Path(settings.BATCHWATCH_RUNBOOKS_DIR)
    report = SyncReport()
    if not directory.is_dir():
        report.problems.append(Problem(str(directory), 0, "no such directory"))
        return report
    sources, report.problems = parse_directory(directory)
    invalid_paths = {p.path for p in report.problems if p.level == "error"}
    existing = {r.slug: r for r in Runbook.objects.all()}
    seen: set[str] = set()
    with transaction.atomic():
        for source in sources:
            if source.id in seen:
                report.problems.append(
                    Problem(source.path, source.lines.get("id", 1), f"duplicate id '{source.id}'")
                )
                continue
            seen.add(source.id)
            fields = {
                "title": source.title,
                "path": source.path,
                "applies_to": source.applies_to.as_dict(),
                "owner": source.owner,
                "severity": source.severity,
                "last_reviewed": source.last_reviewed,
                "body": source.body,
            }
            digest = hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()
            row = existing.get(source.id)
            if row is None:
                Runbook.objects.create(slug=source.id, source_hash=digest, synced_at=now, **fields)
                report.created.append(source.id)
            elif row.source_hash != digest:
                Runbook.objects.filter(pk=row.pk).update(
                    source_hash=digest, synced_at=now, **fields
                )
                report.updated.append(source.id)
            else:
                report.unchanged += 1
        # Keep the row of a file that exists but failed to parse (an edit in progress).
        kept = {r.slug for r in existing.values() if r.path in invalid_paths}
        gone = [slug for slug in existing if slug not in seen and slug not in kept]
        Runbook.objects.filter(slug__in=gone).delete()
        report.removed = sorted(gone)
    logger.info(
        "runbooks.synced",
        extra={
            "runbooks_created": len(report.created),
            "runbooks_updated": len(report.updated),
            "runbooks_removed": len(report.removed),
            "problems": len(report.problems),
        },
    )
    return report
