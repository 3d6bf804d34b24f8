"""``python manage.py slack check | link-users [--dry-run]``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from slack_sdk.errors import SlackApiError

from batchwatch.slack import config
from batchwatch.slack.services import users_link_by_email


class Command(BaseCommand):
    help = "Slack: check the credentials, link Batchwatch users to Slack users by e-mail."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("check", help="Call auth.test with the bot token and report the result.")
        sub.add_parser("link-users", help="Link users without a link by their e-mail address.")

    def handle(self, *args, action: str, **options):
        if not config.is_configured():
            raise CommandError(
                "Slack is not configured: set SLACK_BOT_TOKEN (or the workspace in admin)."
            )
        try:
            if action == "check":
                answer = config.web_client().auth_test()
                self.stdout.write(
                    f"OK: bot {answer.get('user')} in workspace {answer.get('team')} "
                    f"({answer.get('url')})."
                )
                self.stdout.write(
                    "Signing secret: " + ("set" if config.signing_secret() else "NOT SET")
                )
                return
            report = users_link_by_email(
                progress=lambda user: self.stdout.write(f"  looking up {user.get_username()}…")
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "") if isinstance(exc.response.data, dict) else ""
            raise CommandError(f"Slack refused: {error or exc.response.status_code}.") from exc
        except OSError as exc:
            raise CommandError(f"Cannot reach Slack: {exc}.") from exc
        self.stdout.write(f"Linked: {', '.join(report.linked) or 'nobody'}")
        if report.not_found:
            self.stdout.write(f"Not found in Slack: {', '.join(report.not_found)}")
        if report.skipped:
            self.stdout.write(f"Skipped (Slack user already linked): {', '.join(report.skipped)}")
