"""``manage.py quarantine list|retry|discard``: what was accepted but could not be processed.

Exit codes: 0 done (every selected item retried or discarded; ``list`` always), 1 some items
are still failing after a retry, 2 nothing to act on (no selection, or unknown ids), 3 the
database is unavailable (or not migrated).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, ProgrammingError

from batchwatch.core.models import QuarantinedItem
from batchwatch.core.quarantine import has_retry, quarantine_discard, quarantine_retry


class Command(BaseCommand):
    help = "List, retry or discard quarantined items (telemetry or alerts that failed)."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Items still quarantined (or --state).")
        listing.add_argument("--kind")
        listing.add_argument(
            "--state", choices=[*QuarantinedItem.State.values, "all"], default="quarantined"
        )
        listing.add_argument("--limit", type=int, default=50)
        for name, what in (("retry", "Process again"), ("discard", "Drop (kept for the record)")):
            action = sub.add_parser(name, help=f"{what} the selected quarantined items.")
            action.add_argument("ids", nargs="*", type=int, help="item ids")
            action.add_argument("--kind", help="every quarantined item of this kind")
            action.add_argument("--all", action="store_true", help="every quarantined item")

    def handle(self, *args, **options) -> None:
        try:
            self._handle(**options)
        except (OperationalError, InterfaceError, ProgrammingError) as exc:
            raise CommandError(f"The database is unavailable: {exc}", returncode=3) from None

    def _handle(self, *, action: str, **options) -> None:
        if action == "list":
            self._list(options["kind"], options["state"], options["limit"])
            return
        items = self._select(options["ids"], options["kind"], options["all"])
        now = datetime.now(UTC)
        if action == "discard":
            count = quarantine_discard(items, now=now)
            self.stdout.write(f"{count} item(s) discarded.")
            return
        for kind in sorted({i.kind for i in items if not has_retry(i.kind)}):
            self.stderr.write(f"No retry handler is registered for kind {kind!r}.")
        retried, failed = quarantine_retry(items, now=now)
        self.stdout.write(f"{retried} item(s) retried and processed; {failed} still failing.")
        if failed:
            still = QuarantinedItem.objects.filter(
                pk__in=[i.pk for i in items], state=QuarantinedItem.State.QUARANTINED
            )
            for item in still:
                self.stderr.write(f"  #{item.pk} {item.kind}: {item.detail[:300]}")
            raise CommandError("Some items are still failing.", returncode=1)

    def _select(self, ids: list[int], kind: str | None, every: bool) -> list[QuarantinedItem]:
        if bool(ids) + bool(kind) + every != 1:
            raise CommandError("Name the items: ids, --kind KIND or --all.", returncode=2)
        items = QuarantinedItem.objects.filter(state=QuarantinedItem.State.QUARANTINED)
        if ids:
            items = items.filter(pk__in=ids)
        elif kind:
            items = items.filter(kind=kind)
        selected = list(items.order_by("id"))
        missing = sorted(set(ids) - {i.pk for i in selected})
        if missing:
            raise CommandError(
                f"No quarantined item with id {', '.join(map(str, missing))} "
                "(see 'quarantine list --state all').",
                returncode=2,
            )
        if not selected:
            raise CommandError("No quarantined items match.", returncode=2)
        return selected

    def _list(self, kind: str | None, state: str, limit: int) -> None:
        items = QuarantinedItem.objects.all()
        if state != "all":
            items = items.filter(state=state)
        if kind:
            items = items.filter(kind=kind)
        total = items.count()
        if not total:
            self.stdout.write("No items.")
            return
        for item in items.order_by("-id")[:limit]:
            self.stdout.write(
                f"#{item.pk}  {item.kind}  {item.reason}  {item.state}  "
                f"quarantined {item.quarantined_at:%Y-%m-%d %H:%M:%S}Z  "
                f"received {item.received_at:%Y-%m-%d %H:%M:%S}Z  {item.origin}\n"
                f"    {item.detail[:200]}"
            )
        if total > limit:
            self.stdout.write(f"... and {total - limit} more (--limit).")
