"""``manage.py poll_flink``: record Flink job runs, restarts and failed checkpoints."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from batchwatch.ingest.auth import ANONYMOUS
from batchwatch.ingest.flinkrest import FlinkUnreachable, check_url, poll
from batchwatch.ingest.services import ingest_run_events


class Command(BaseCommand):
    help = (
        "Poll a Flink REST API (job manager :8081 or history server) once, or every "
        "--interval seconds, and record its jobs as runs. The scheduler does the same for "
        "BATCHWATCH_FLINK_URLS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="e.g. http://flink-jobmanager:8081")
        parser.add_argument("--namespace", default="flink", help="job namespace (default flink)")
        parser.add_argument("--interval", type=float, help="keep polling every N seconds")
        parser.add_argument("--timeout", type=float, default=5.0, help="HTTP timeout, seconds")

    def handle(self, *args, url, namespace, interval, timeout, **options):
        if not url.startswith(("http://", "https://")):
            raise CommandError(f"--url {url!r} must be an http(s) URL.", returncode=2)
        try:
            check_url(url)
        except FlinkUnreachable as exc:
            raise CommandError(f"--url {exc}.", returncode=2) from None
        if interval is not None and interval <= 0:
            raise CommandError("--interval must be a positive number of seconds.", returncode=2)
        while True:
            try:
                observations = poll(url, namespace=namespace, timeout=timeout)
            except FlinkUnreachable as exc:
                if interval is None:
                    raise CommandError(f"Flink poll failed: {exc}.") from None
                self.stderr.write(f"Flink poll failed: {exc}; retrying in {interval:g}s")
            else:
                ingest_run_events(
                    observations, lineage=[], principal=ANONYMOUS, now=datetime.now(UTC)
                )
                summary = ", ".join(f"{o.job_name}={o.state}" for o in observations) or "no jobs"
                self.stdout.write(f"Recorded {len(observations)} Flink job(s): {summary}")
            if interval is None:
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
