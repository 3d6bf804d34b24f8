from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """People's own credentials: personal API tokens (hashed at rest, shown once) and the
    secret folded into their personal calendar feed link; and their display preferences (the
    time zone pages show times in)."""

    name = "batchwatch.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from batchwatch.accounts import middleware  # noqa: F401 - remembers the zone at sign-in
