"""``python manage.py worker``: the project's worker (see ``batchwatch.core.worker``)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from batchwatch.core.heap import freeze_startup_heap
from batchwatch.core.worker import DatabaseUnavailable, Worker


def add_worker_arguments(parser) -> None:
    parser.add_argument(
        "--interval",
        type=float,
        default=0.25,
        help="seconds between polls of the timers, queues and outbox (default: 0.25)",
    )
    parser.add_argument("--once", action="store_true", help="one round of every lane, then exit")
    parser.add_argument(
        "--drain-nice",
        type=int,
        default=None,
        help="nice increment of the queue-draining thread, 0-19 (default: "
        "$BATCHWATCH_DRAIN_NICE or 10; Linux only)",
    )


def run_worker(*, interval: float, once: bool, drain_nice: int | None, stdout) -> None:
    if drain_nice is None:
        drain_nice = settings.BATCHWATCH_DRAIN_NICE
    if not 0 <= drain_nice <= 19:
        raise CommandError(f"--drain-nice {drain_nice}: choose between 0 and 19.")
    if interval <= 0:
        raise CommandError(f"--interval {interval}: choose a positive number of seconds.")
    worker = Worker(interval=interval, drain_nice=drain_nice, out=stdout)
    if once:
        try:
            worker.run_once()
        except DatabaseUnavailable as exc:
            raise CommandError(f"The database is unavailable: {exc}") from None
        return
    freeze_startup_heap()
    worker.run()


class Command(BaseCommand):
    help = (
        "Run every periodic function of the registry in lanes (timers, drain, outbox, ticks), "
        "polling the database: the whole load, with or without Celery and Redis."
    )

    def add_arguments(self, parser):
        add_worker_arguments(parser)

    def handle(self, *args, interval, once, drain_nice, **options):
        run_worker(interval=interval, once=once, drain_nice=drain_nice, stdout=self.stdout)
