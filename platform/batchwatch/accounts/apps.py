from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """People's own credentials: personal API tokens (hashed at rest, shown once) and the
    secret folded into their personal calendar feed link."""

    name = "batchwatch.accounts"
    label = "accounts"
    verbose_name = "Accounts"
