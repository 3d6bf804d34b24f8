"""``manage.py evaluate [--at ISO]``: run the ledger (and SLOs) as of an instant."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from batchwatch.slo.services import evaluate_all


class Command(BaseCommand):
    help = (
        "Materialise expected runs, judge late starts, missed runs and overruns, and evaluate "
        "every SLO, as of now or as of --at (an ISO 8601 instant with a zone): for tests and "
        "backfills."
    )

    def add_arguments(self, parser):
        parser.add_argument("--at", help="e.g. 2026-11-21T07:30:00Z or 2026-11-21T02:30-05:00")

    def handle(self, *args, at, **options):
        now = datetime.now(UTC)
        if at:
            try:
                now = datetime.fromisoformat(at.replace("Z", "+00:00"))
            except ValueError:
                raise CommandError(
                    f"--at {at!r} is not an ISO 8601 date-time.", returncode=2
                ) from None
            if now.tzinfo is None:
                raise CommandError(
                    f"--at {at!r} has no time zone; add Z or an offset such as +00:00.",
                    returncode=2,
                )
        result = evaluate_all(now.astimezone(UTC))
        self.stdout.write(
            f"Evaluated as of {now.isoformat()}: {result['expected']} expected run(s) written, "
            f"{result['late']} late start(s), {result['missed']} missed, "
            f"{result['overran']} overrun(s); {result['slo_states']} SLO state(s), "
            f"{result['predicted_misses']} predicted deadline miss(es)."
        )
