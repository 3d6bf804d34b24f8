"""``manage.py import_spark_eventlog``: Spark event logs into runs, like a history server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from batchwatch.ingest.services import spark_eventlog_import
from batchwatch.ingest.sparklog import EventLogError, find_logs


class Command(BaseCommand):
    help = (
        "Import Spark event logs: plain, .zstd/.lz4/.snappy files and Spark 4 rolling "
        "directories (eventlog_v2_<appId>/). Re-importing is harmless. With --watch, follow a "
        "directory and import new or growing logs as they appear."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", type=Path, help="log files or directories")
        parser.add_argument("--watch", type=Path, metavar="DIR", help="follow this directory")
        parser.add_argument(
            "--interval",
            type=float,
            default=10.0,
            help="seconds between scans with --watch (default 10)",
        )
        parser.add_argument(
            "--namespace",
            default="spark",
            help="job namespace when the log does not set "
            "spark.batchwatch.namespace (default: spark)",
        )
        parser.add_argument("--force", action="store_true", help="re-read logs even when unchanged")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, paths, watch, interval, namespace, force, no_progress, **options):
        if not paths and not watch:
            raise CommandError("Give event log paths, or --watch DIR.", returncode=2)
        if watch and not watch.is_dir():
            raise CommandError(f"--watch {watch}: not a directory.", returncode=2)
        if interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.", returncode=2)
        failed = self._import(paths, namespace=namespace, force=force, quiet=no_progress)
        while watch:
            failed = self._import(
                [watch], namespace=namespace, force=False, quiet=True, only_changes=True
            )
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                self.stdout.write("Stopped watching.")
                return
        if failed:
            raise CommandError(f"{failed} log(s) could not be imported (see above).")

    def _import(self, paths, *, namespace, force, quiet, only_changes=False) -> int:
        logs = []
        for path in paths:
            try:
                logs += find_logs(path)
            except EventLogError as exc:
                raise CommandError(str(exc), returncode=2) from None
        total = sum(log.size for log in logs)
        bar = tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc="event logs",
            disable=quiet or not logs,
            file=self.stderr._out,
        )
        failed = 0
        for log in logs:
            result = spark_eventlog_import(
                log, namespace=namespace, force=force, now=datetime.now(UTC), progress=bar.update
            )
            if result.status == "failed":
                failed += 1
                self.stderr.write(f"{log.path}: {result.message}")
            elif result.status == "imported" or not only_changes:
                with tqdm.external_write_mode(file=self.stderr._out):
                    self.stdout.write(f"{result.status:>9}  {log.path.name}  {result.message}")
        bar.close()
        return failed
