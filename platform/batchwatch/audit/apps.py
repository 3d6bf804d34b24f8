from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Who did what to the controls that decide who gets paged: tokens, silences, maintenance,
    configuration, roles. Append-only; written in the same transaction as the action."""

    name = "batchwatch.audit"
    label = "audit"
    verbose_name = "Audit log"
