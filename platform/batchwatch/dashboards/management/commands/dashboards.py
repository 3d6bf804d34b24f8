"""``python manage.py dashboards build --out DIR | diff | deploy [--dry-run] [--prune]
[--on-drift block|overwrite|adopt]``."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from batchwatch.dashboards.grafana import Grafana, GrafanaError
from batchwatch.dashboards.selectors import catalog_snapshot
from batchwatch.dashboards.services import (
    DRIFT_POLICIES,
    dashboards_deploy,
    dashboards_write,
    plan,
)
from batchwatch.dashboards.sources import SourceError, build_all

SYMBOLS = {"new": "+", "changed": "~", "unchanged": "=", "drifted": "!", "orphaned": "-"}


class Command(BaseCommand):
    help = "Grafana dashboards as code: build JSON, diff against Grafana, deploy."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        build = sub.add_parser("build", help="Write dashboard JSON and a provisioning file.")
        build.add_argument("--out", required=True, help="directory to write into")
        build.add_argument(
            "--provisioning-path",
            default="/var/lib/grafana/dashboards",
            help="where Grafana will read the files (for provisioning.yaml)",
        )
        for name, text in (
            ("diff", "Compare with a Grafana: new, changed, unchanged, drifted, orphaned."),
            ("deploy", "Write changed dashboards to a Grafana (folders per team)."),
        ):
            p = sub.add_parser(name, help=text)
            p.add_argument("--url", default=settings.GRAFANA_URL, help="default: GRAFANA_URL")
            p.add_argument("--token", default=settings.GRAFANA_TOKEN, help="default: GRAFANA_TOKEN")
            if name == "diff":
                p.add_argument("--quiet", action="store_true", help="no diffs, statuses only")
            else:
                p.add_argument("--dry-run", action="store_true", help="read only: send no write")
                p.add_argument("--prune", action="store_true", help="delete our orphans")
                p.add_argument("--on-drift", choices=DRIFT_POLICIES, default="block")
        for p in sub.choices.values():
            p.add_argument(
                "--source", default=settings.BATCHWATCH_DASHBOARDS_DIR, help="*.dashboard.py dir"
            )

    def handle(self, *args, action: str, **options):
        started = time.perf_counter()
        try:
            built = build_all(Path(options["source"]), catalog_snapshot())
        except SourceError as exc:
            raise CommandError(f"Cannot build the dashboards: {exc}", returncode=2) from None
        build_seconds = time.perf_counter() - started
        if action == "build":
            result = dashboards_write(
                built, out=Path(options["out"]), provisioning_path=options["provisioning_path"]
            )
            self.stdout.write(
                f"Built {result['dashboards']} dashboards in {build_seconds:.2f} s into "
                f"{options['out']} ({result['unchanged']} unchanged, {result['removed']} "
                "removed); provisioning.yaml for read-only file provisioning."
            )
            return
        if not options["url"]:
            raise CommandError("No Grafana: pass --url or set GRAFANA_URL.", returncode=2)
        try:
            client = Grafana(options["url"], options["token"])
            progress = self._progress(len(built))
            if action == "diff":
                self._diff(plan(built, client=client, progress=progress), quiet=options["quiet"])
                return
            report = dashboards_deploy(
                built,
                client=client,
                now=datetime.now(UTC),
                dry_run=options["dry_run"],
                prune=options["prune"],
                on_drift=options["on_drift"],
                progress=progress,
            )
        except GrafanaError as exc:
            raise CommandError(f"{exc}.", returncode=1) from None
        for folder in report.folders_created:
            verb = "would create" if options["dry_run"] else "created"
            self.stdout.write(f"folder {folder}: {verb}")
        for outcome in report.outcomes:
            if outcome.action == "unchanged":
                continue
            note = f" — {outcome.message}" if outcome.message else ""
            self.stdout.write(
                f"{SYMBOLS.get(outcome.status, '?')} {outcome.uid}: {outcome.action}{note}"
            )
        summary = ", ".join(f"{n} {what}" for what, n in report.summary().items())
        self.stdout.write(
            f"{'Dry run' if options['dry_run'] else 'Deployed'}: {summary}; "
            f"{report.writes} write request(s). Recorded as deployment #{report.deployment_id}."
        )
        if not report.ok:
            raise CommandError(
                "Not everything was deployed: drifted dashboards were blocked (choose "
                "--on-drift overwrite or adopt) or Grafana refused a write.",
                returncode=1,
            )

    def _progress(self, total: int):
        """A progress bar on a terminal (comparing thousands of dashboards takes a while)."""

        def wrap(iterable):
            return tqdm(
                iterable,
                total=total,
                desc="comparing with Grafana",
                unit="dashboard",
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
                leave=False,
            )

        return wrap

    def _diff(self, outcomes, *, quiet: bool) -> None:
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
            if outcome.status == "unchanged":
                continue
            note = f" — {outcome.message}" if outcome.message else ""
            self.stdout.write(f"{SYMBOLS[outcome.status]} {outcome.uid} ({outcome.status}){note}")
            if outcome.diff and not quiet:
                self.stdout.write(outcome.diff)
        self.stdout.write(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
