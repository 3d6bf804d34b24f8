"""``manage.py rotate_secret_keys``: re-encrypt every stored secret under the first key."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from batchwatch.core.fields import secrets_reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every integration secret stored in the database under the first key of "
        "BATCHWATCH_SECRET_KEYS (plain-text rows from before encryption too). Rotation: put "
        "the new key first, keep the old ones, run this, then remove the old keys."
    )

    def handle(self, *args, **options):
        report = secrets_reencrypt()
        total = sum(counts["reencrypted"] for counts in report.values())
        unreadable = sum(counts["unreadable"] for counts in report.values())
        for field, counts in report.items():
            line = f"{field}: {counts['reencrypted']} re-encrypted"
            if counts["unreadable"]:
                line += f", {counts['unreadable']} unreadable with the configured keys"
            self.stdout.write(line)
        self.stdout.write(f"Re-encrypted {total} secret(s) under the first key.")
        if unreadable:
            raise CommandError(
                f"{unreadable} secret(s) cannot be decrypted with BATCHWATCH_SECRET_KEYS and "
                "were left as they are: add back the key they were written with and run "
                "this again, or set them again in admin.",
                returncode=1,
            )
