"""``manage.py import_flink_archive``: Flink job archives on disk into runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from batchwatch.ingest.auth import ANONYMOUS
from batchwatch.ingest.flinkarchive import ArchiveError, observations_from
from batchwatch.ingest.services import ingest_run_events


class Command(BaseCommand):
    help = (
        "Import finished Flink jobs from their archives: the files of jobmanager.archive.fs.dir "
        "(one per job) or a history server's web directory (jobs/overview.json, "
        "jobs/<id>.json...). Importing again is harmless: the runs converge."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="an archive file or a directory")
        parser.add_argument("--namespace", default="flink", help="job namespace (default flink)")

    def handle(self, *args, path, namespace, **options):
        try:
            found = list(observations_from(path, namespace=namespace))
        except ArchiveError as exc:
            raise CommandError(f"{exc}.", returncode=2) from None
        failed = 0
        for where, result in found:
            if isinstance(result, ArchiveError):
                failed += 1
                self.stderr.write(f"{where}: skipped: {result}")
                continue
            ingest_run_events(result, lineage=[], principal=ANONYMOUS, now=datetime.now(UTC))
            summary = ", ".join(f"{o.job_name}={o.state}" for o in result) or "no jobs"
            self.stdout.write(f"{where}: recorded {len(result)} Flink job(s): {summary}")
        if not found:
            raise CommandError(f"{path}: no Flink job archives found.", returncode=2)
        if failed:
            raise CommandError(f"{failed} archive(s) could not be read (see above).")
