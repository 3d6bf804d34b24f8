from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from batchwatch.core.links import absolute_url
from batchwatch.demo.loader import DEMO_ADMIN, DEMO_PASSWORD, load_demo_catalog


class Command(BaseCommand):
    help = (
        "Load the demo: teams, ~20 jobs over every engine, demo users, run history, SLOs and "
        "alerting. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="allow loading demo data in production mode"
        )

    def handle(self, *args, force: bool, **options):
        if settings.PRODUCTION and not force:
            raise CommandError(
                "Refusing to load demo users and jobs in production mode; pass --force if you "
                "really mean it."
            )
        summary = load_demo_catalog()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo catalog loaded: {summary.teams} teams, {summary.jobs} jobs"
                + (f", {summary.runs} runs of history." if summary.runs else ".")
            )
        )
        if summary.users_created:
            self.stdout.write(
                f"Created demo users {', '.join(summary.users_created)} "
                f"with the password '{DEMO_PASSWORD}'."
            )
        if summary.incident is not None:
            self.stdout.write(
                f"Open incident: {summary.incident.title} "
                f"({absolute_url('web:incident', summary.incident.pk)}). It pages Ledger's "
                f"on-call engineer a minute after start-up; the pages land in the demo inbox, "
                f"{absolute_url('demo-inbox')}."
            )
        self.stdout.write(
            f"Log in at {absolute_url('login')} as '{DEMO_ADMIN}' (admin) or "
            f"'alice' (owner of Ledger & Accounting), password '{DEMO_PASSWORD}' "
            "unless you changed it."
        )
