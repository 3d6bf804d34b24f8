"""``manage.py rules build --out FILE``: Prometheus rules for the SLOs, and their tests."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from batchwatch.slo.models import SLO
from batchwatch.slo.rules import build_rules


class Command(BaseCommand):
    help = (
        "Generate Prometheus recording and alerting rules for every active SLO (Sloth-style "
        "names; severity page or ticket) and a `promtool test rules` file beside them."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        build = sub.add_parser("build", help="write the rules and their unit tests")
        build.add_argument("--out", type=Path, required=True, help="e.g. prometheus/slo.rules.yml")

    def handle(self, *args, action, out: Path, **options):
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent} is not a directory.", returncode=2)
        slos = list(SLO.objects.filter(is_active=True).order_by("slug"))
        files = build_rules(slos, rules_filename=out.name)
        tests = out.with_name(out.stem.removesuffix(".rules") + ".test.yml")
        out.write_text(files.rules)
        tests.write_text(files.tests)
        self.stdout.write(
            f"Wrote {len(slos)} SLO rule group(s) to {out} and their tests to {tests}. Check "
            f"with: promtool check rules {out} && promtool test rules {tests}"
        )
