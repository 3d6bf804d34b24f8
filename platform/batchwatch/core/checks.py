"""System checks of Batchwatch's own settings (``manage.py check``, ``check --deploy``)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from batchwatch.core import outbound


@checks.register(checks.Tags.security, deploy=True)
def secret_keys_set(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Production should encrypt stored secrets under keys of its own: the fallback key is
    derived from SECRET_KEY, and rotating SECRET_KEY would make them unreadable."""
    if settings.BATCHWATCH_SECRET_KEYS:
        return []
    return [
        checks.Warning(
            "BATCHWATCH_SECRET_KEYS is not set: integration secrets stored in the database "
            "are encrypted with a key derived from SECRET_KEY, so changing SECRET_KEY would "
            "make them unreadable.",
            hint="Set BATCHWATCH_SECRET_KEYS to a key of its own: python -c 'from "
            "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'",
            id="batchwatch.W001",
        )
    ]


@checks.register(checks.Tags.security)
def integration_urls_allowed(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """The integrations configured in the environment, checked as early as a channel is on
    save. Only addresses written as such are judged here (no DNS lookups at start-up); names
    are checked when connecting."""
    configured = [("GRAFANA_URL", settings.GRAFANA_URL)] if settings.GRAFANA_URL else []
    configured += [("BATCHWATCH_FLINK_URLS", url) for url in settings.BATCHWATCH_FLINK_URLS]
    configured.append(("SLACK_API_URL", settings.SLACK_API_URL))
    problems: list[checks.CheckMessage] = []
    for name, url in configured:
        try:
            outbound.check_url(url, resolve_names=False)
        except outbound.OutboundRefused as exc:
            problems.append(
                checks.Warning(
                    f"{name}: {exc.message}.",
                    hint="Requests there will be refused; list the address in "
                    "BATCHWATCH_OUTBOUND_ALLOW if it is meant.",
                    id="batchwatch.W002",
                )
            )
    return problems
