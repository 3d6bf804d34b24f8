"""``manage.py slo load FILE``: SLOs as code."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from batchwatch.audit.services import cli_actor_name
from batchwatch.slo.loading import SLOFileError, load_slo_file


class Command(BaseCommand):
    help = "Manage SLOs as code. `slo load FILE` creates or updates the file's SLOs by slug."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="load SLOs from a YAML file (all or nothing)")
        load.add_argument("file", type=Path)

    def handle(self, *args, action, file, **options):
        try:
            result = load_slo_file(file, actor_name=cli_actor_name())
        except SLOFileError as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            raise CommandError(
                f"{len(exc.problems)} problem(s); nothing was loaded.", returncode=2
            ) from None
        self.stdout.write(
            f"Loaded {file}: {result.created} created, {result.updated} updated "
            f"({result.changed} changed)."
        )
