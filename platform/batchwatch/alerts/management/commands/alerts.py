"""``python manage.py alerts load-config FILE | simulate FILE | worker``."""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from batchwatch.alerts.loading import ConfigError, config_apply, load_document

logger = logging.getLogger("batchwatch.alerts")


def _read(path: str) -> dict:
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"{path}: no such file.", returncode=2)
    try:
        return load_document(file.read_text(encoding="utf-8"))
    except ConfigError as exc:
        raise CommandError(f"{path}: {exc.errors[0]}", returncode=2) from None
    except UnicodeDecodeError:
        raise CommandError(f"{path}: not a UTF-8 text file.", returncode=2) from None


class Command(BaseCommand):
    help = "Alerting configuration as code, the routing simulator, and the timer/outbox worker."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load-config", help="Validate and apply an alerting YAML file.")
        load.add_argument("file")
        load.add_argument("--check", action="store_true", help="Validate only; write nothing.")
        sim = sub.add_parser(
            "simulate", help="Replay timestamped alerts; print who would be paged; send nothing."
        )
        sim.add_argument("file")
        worker = sub.add_parser(
            "worker",
            help="Drain queued alerts and run reports, run due timers and deliver the outbox in "
            "a loop.",
        )
        worker.add_argument("--interval", type=float, default=0.25)
        worker.add_argument("--once", action="store_true")
        worker.add_argument(
            "--drain-nice",
            type=int,
            default=None,
            help="nice increment of the queue-draining thread, 0-19 (default: "
            "$BATCHWATCH_DRAIN_NICE or 10; Linux only)",
        )

    def handle(self, *args, action, **options):
        if action == "load-config":
            return self._load(options["file"], options["check"])
        if action == "simulate":
            return self._simulate(options["file"])
        drain_nice = options["drain_nice"]
        if drain_nice is None:
            drain_nice = settings.BATCHWATCH_DRAIN_NICE
        if not 0 <= drain_nice <= 19:
            raise CommandError(f"--drain-nice {drain_nice}: choose between 0 and 19.")
        return self._worker(options["interval"], options["once"], drain_nice)

    def _load(self, path: str, check_only: bool):
        from django.db import transaction

        data = _read(path)
        try:
            with transaction.atomic():
                counts = config_apply(data, now=datetime.now(UTC))
                if check_only:
                    transaction.set_rollback(True)
        except ConfigError as exc:
            for error in exc.errors:
                self.stderr.write(f"{path}: {error}")
            raise CommandError(
                f"{path}: {len(exc.errors)} problem(s); nothing was changed.", returncode=2
            ) from None
        summary = ", ".join(f"{n} {name.replace('_', ' ')}" for name, n in counts.items())
        verb = "is valid" if check_only else "applied"
        self.stdout.write(self.style.SUCCESS(f"{path} {verb}: {summary}."))

    def _simulate(self, path: str):
        from batchwatch.alerts.simulate import simulate

        data = _read(path)
        try:
            report = simulate(data)
        except ConfigError as exc:
            for error in exc.errors:
                self.stderr.write(f"{path}: {error}")
            raise CommandError(f"{path}: the simulation could not run.", returncode=2) from None
        for line in report.lines:
            self.stdout.write(f"{line.at:%Y-%m-%d %H:%M:%S}  {line.kind:<15} {line.text}")
        if report.failures:
            for failure in report.failures:
                self.stderr.write(self.style.ERROR(f"FAILED {failure}"))
            raise CommandError(
                f"{len(report.failures)} of {report.checked} expectation(s) failed.", returncode=1
            )
        self.stdout.write(
            self.style.SUCCESS(f"{report.checked} expectation(s) hold. Nothing was sent.")
        )

    def _worker(self, interval: float, once: bool, drain_nice: int = 0):
        from django.db import InterfaceError, OperationalError, close_old_connections, connections

        from batchwatch.alerts.services import (
            INTAKE_CHUNK,
            alerts_reconsider,
            intake_drain,
            intake_drain_due,
            timers_run_due,
        )
        from batchwatch.alerts.signals import signals_route
        from batchwatch.core.heap import freeze_startup_heap
        from batchwatch.ingest.services import RUNS_DRAIN_CHUNK, runs_drain
        from batchwatch.notify.services import (
            DELIVERY_BATCH,
            deliver_claimed,
            deliver_due,
            local_delivery_set,
            notifications_claim,
        )

        freeze_startup_heap()
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        last_reconsider = 0.0
        self.stdout.write(
            f"alerts worker: queued alerts and run reports (at nice +{drain_nice}), timers and "
            f"outbox every {interval}s (Ctrl-C stops)"
        )

        # Deliveries wait on the network: sender threads (each with its own connection) send
        # them while the main loop writes the next flushes, not one by one after all of them.
        # What they send: the group notifications this process's flushes wrote (handed over
        # at commit, already claimed), and what one thread claims a few at a time while
        # the senders have little queued (retries, other processes' rows).
        count = settings.BATCHWATCH_OUTBOX_CONCURRENCY
        outbox: queue.Queue = queue.Queue()

        def hand_over(rows):
            for i in range(0, len(rows), DELIVERY_BATCH):
                outbox.put(rows[i : i + DELIVERY_BATCH])

        if not once:
            local_delivery_set(hand_over)

        def survive(what: str, step, *args):
            """Run one step; a database that went away is waited out, not a dead thread."""
            try:
                return step(*args)
            except (OperationalError, InterfaceError) as exc:
                if once:  # one round asked for: say it failed
                    raise CommandError(f"The database is unavailable: {exc}") from None
                logger.warning(
                    "alerts.worker_database_error", extra={"step": what, "error": str(exc)[:200]}
                )
                connections.close_all()  # this thread's: the next step reconnects
                time.sleep(1)
                return None

        def claim_due():
            return notifications_claim(now=datetime.now(UTC), size=DELIVERY_BATCH)

        def dispatch():
            try:
                while not stopping:
                    if outbox.qsize() >= 2 * count:  # the senders are busy: claim later
                        time.sleep(interval)
                        continue
                    batch = survive("claim", claim_due)
                    if batch:
                        outbox.put(batch)
                    else:
                        time.sleep(interval)
            finally:
                for _ in range(count):
                    outbox.put(None)  # after what is queued: claimed rows are still sent
                connections.close_all()

        def send_claimed(batch):
            deliver_claimed(batch, now=datetime.now(UTC))

        def send():
            try:
                while (batch := outbox.get()) is not None:
                    # (if marking them delivered fails, their lease runs out and they are
                    # sent again, with the same Idempotency-Key)
                    survive("send", send_claimed, batch)
            finally:
                connections.close_all()

        def drain_once(wait_for_quiet: bool = False) -> int:
            # A chunk at a time: in --once mode a long backlog must not hold up due flushes.
            drained = 0
            if not wait_for_quiet or intake_drain_due(now=datetime.now(UTC)):
                drained += intake_drain(now=datetime.now(UTC), limit=INTAKE_CHUNK)
            return drained + runs_drain(now=datetime.now(UTC), limit=RUNS_DRAIN_CHUNK)

        def drain():
            """The queues (alerts, run reports) in a thread of their own, at a lower CPU
            priority: a storm's backlog takes the CPU the web processes and the pages leave,
            rather than slowing the answers to the senders and holding up due flushes."""
            _lower_thread_priority(drain_nice)
            try:
                while not stopping:
                    if not survive("drain", drain_once, True):
                        time.sleep(interval)
            finally:
                connections.close_all()

        def one_round(reconsider: bool):
            if once:
                drain_once()
            now = datetime.now(UTC)
            # Flushes of a storm fall due one after another while a round writes the earlier
            # ones: look again at once, rather than after a pause.
            for _ in range(20):
                if not timers_run_due(now=now):
                    break
                now = datetime.now(UTC)
            if once:
                deliver_due(now=now)
            if reconsider:
                signals_route(now=now)
                alerts_reconsider(now=now)

        threads = []
        if not once:
            threads = [
                threading.Thread(target=drain, name="drain", daemon=True),
                threading.Thread(target=dispatch, name="outbox-claims", daemon=True),
            ]
            threads += [
                threading.Thread(target=send, name=f"outbox-{k}", daemon=True) for k in range(count)
            ]
            for thread in threads:
                thread.start()
        try:
            while not stopping:
                reconsider = time.monotonic() - last_reconsider > 5
                survive("round", one_round, reconsider)
                if reconsider:
                    last_reconsider = time.monotonic()
                close_old_connections()
                if once:
                    break
                time.sleep(interval)
        except KeyboardInterrupt:
            stopping.append(True)
        finally:
            local_delivery_set(None)  # what is written from now on waits for a claim
        for thread in threads:
            thread.join(timeout=30)
        sys.stdout.flush()


def _lower_thread_priority(increment: int) -> None:
    """Raise the calling thread's nice value by ``increment`` (Linux schedules threads one by
    one; elsewhere a process-wide call would lower the pages too, so nothing is done)."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except OSError as exc:  # (a sandbox that forbids it: run at the same priority)
        logger.warning("alerts.drain_priority_unchanged", extra={"error": str(exc)})
