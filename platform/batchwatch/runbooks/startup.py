"""Runbooks are loaded as the web server starts, so a deploy brings its runbooks with it
(registered with ``core.startup`` by ``RunbooksConfig.ready``)."""

from __future__ import annotations

from datetime import datetime

from django.db import DatabaseError

from batchwatch.core.startup import Output
from batchwatch.runbooks.services import runbooks_sync


def sync_runbooks(now: datetime, stdout: Output, stderr: Output) -> None:
    try:
        report = runbooks_sync(now=now)
    except DatabaseError as exc:  # not migrated yet: serving matters more than runbooks
        stderr.write(f"Runbooks not loaded: {exc}")
        return
    for problem in report.problems:
        stderr.write(f"Runbook problem: {problem}")
    loaded = len(report.created) + len(report.updated) + report.unchanged
    stdout.write(f"Runbooks loaded: {loaded}.")
