"""``python manage.py alerts load-config FILE | simulate FILE | worker``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from batchwatch.alerts.loading import ConfigError, config_apply, load_document
from batchwatch.alerts.simulate import simulate
from batchwatch.audit.services import cli_actor_name
from batchwatch.core.management.commands.worker import add_worker_arguments, run_worker


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
    help = "Alerting configuration as code, the routing simulator, and the worker (alias)."

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
            "worker", help="The project's worker (an alias of `manage.py worker`)."
        )
        add_worker_arguments(worker)

    def handle(self, *args, action, **options):
        if action == "load-config":
            return self._load(options["file"], options["check"])
        if action == "simulate":
            return self._simulate(options["file"])
        return run_worker(
            interval=options["interval"],
            once=options["once"],
            drain_nice=options["drain_nice"],
            stdout=self.stdout,
        )

    def _load(self, path: str, check_only: bool):
        data = _read(path)
        try:
            with transaction.atomic():
                counts = config_apply(
                    data,
                    now=datetime.now(UTC),
                    loaded_from=str(Path(path).resolve()),
                    actor_name=cli_actor_name(),
                )
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
