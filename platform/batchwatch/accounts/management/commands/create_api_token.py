"""``manage.py create_api_token <username> --name ...``: a token for bootstrapping scripts.

Prints the token once, alone on stdout (``TOKEN=$(manage.py create_api_token ci --name ci)``);
everything else goes to stderr.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from batchwatch.accounts.models import DEFAULT_LIFETIME
from batchwatch.accounts.services import create_token


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (shown once, stored hashed)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="What uses the token.")
        lifetime = parser.add_mutually_exclusive_group()
        lifetime.add_argument(
            "--expires-in-days",
            type=int,
            default=DEFAULT_LIFETIME.days,
            help=f"Days until it expires (default {DEFAULT_LIFETIME.days}).",
        )
        lifetime.add_argument("--no-expiry", action="store_true", help="The token never expires.")

    def handle(self, *args, username, name, expires_in_days, no_expiry, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(
                f"No user {username!r}; create it first (manage.py createsuperuser)."
            )
        if not no_expiry and not 1 <= expires_in_days <= 3650:
            raise CommandError("--expires-in-days is between 1 and 3650 (or use --no-expiry).")
        expires_at = None if no_expiry else datetime.now(UTC) + timedelta(days=expires_in_days)
        try:
            token, raw = create_token(user, name=name, expires_at=expires_at, actor_name="cli")
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(raw)
        until = f"expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "never expires"
        self.stderr.write(
            f"API token {token.prefix}… '{token.name}' for {username}, {until}. "
            "It is not shown again."
        )
