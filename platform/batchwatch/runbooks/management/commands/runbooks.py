"""``python manage.py runbooks check [DIR] [--slos FILE...] | sync [DIR]``."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from batchwatch.runbooks.check import check
from batchwatch.runbooks.services import runbooks_sync
from batchwatch.slo.models import SLO


class Command(BaseCommand):
    help = "Runbooks as code: check them (CI) or load them into the database."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        check_parser = sub.add_parser("check", help="Validate runbooks; exit 1 on errors.")
        check_parser.add_argument("directory", nargs="?", help="default: the runbooks setting")
        check_parser.add_argument(
            "--slos",
            nargs="*",
            default=[],
            help="SLO YAML files whose SLOs must each have a runbook (the database's too).",
        )
        check_parser.add_argument(
            "--review-days", type=int, default=settings.BATCHWATCH_RUNBOOK_REVIEW_DAYS
        )
        check_parser.add_argument("--today", help="YYYY-MM-DD (for tests); default today")
        sync_parser = sub.add_parser("sync", help="Load runbooks into the database.")
        sync_parser.add_argument("directory", nargs="?")

    def handle(self, *args, action: str, directory=None, **options):
        directory = Path(directory or settings.BATCHWATCH_RUNBOOKS_DIR)
        if action == "sync":
            report = runbooks_sync(now=datetime.now(UTC), directory=directory)
            for problem in report.problems:
                self.stderr.write(str(problem))
            self.stdout.write(
                f"Runbooks: {len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.removed)} removed, {report.unchanged} unchanged."
            )
            if any(p.level == "error" for p in report.problems):
                raise CommandError("Some runbooks were not loaded (see above).", returncode=1)
            return
        today = datetime.now(UTC).date()
        if options["today"]:
            try:
                today = date.fromisoformat(options["today"])
            except ValueError:
                raise CommandError(f"--today {options['today']!r} is not YYYY-MM-DD.") from None
        slugs = self._slo_slugs(options["slos"])
        runbooks, problems = check(
            directory, today=today, review_days=options["review_days"], slo_slugs=slugs
        )
        for problem in problems:
            self.stdout.write(str(problem))
        errors = sum(p.level == "error" for p in problems)
        warnings = len(problems) - errors
        summary = f"{len(runbooks)} runbook(s), {errors} error(s), {warnings} warning(s)."
        if errors:
            raise CommandError(summary, returncode=1)
        self.stdout.write(self.style.SUCCESS(summary))

    def _slo_slugs(self, files: list[str]) -> list[str]:
        slugs = []
        for name in files:
            try:
                data = yaml.safe_load(Path(name).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise CommandError(f"Cannot read SLOs from {name}: {exc}") from None
            entries = data.get("slos", []) if isinstance(data, dict) else data
            slugs += [str(e["slug"]) for e in entries if isinstance(e, dict) and "slug" in e]
        # No database here (a bare CI step): the files are enough.
        with contextlib.suppress(DatabaseError):
            slugs += list(SLO.objects.values_list("slug", flat=True))
        return sorted(set(slugs))
