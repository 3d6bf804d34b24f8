"""Human units in templates (``{% load bw_human %}``), over the pure ``web/human.py``.

``{{ seconds|duration }}``, ``{{ millis|duration_ms }}``, ``{{ n|bytes }}`` (decimal units),
``{{ job.schedule_cron|cron_words:job.schedule_timezone }}``, and ``{% when at %}``: a
``<time>`` reading "3 h ago" or "in 5 h", with the instant in ISO 8601 and, on hover, in the
viewer's zone (the one ``accounts.middleware`` activated) with its abbreviation.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from batchwatch.web import human

register = template.Library()


@register.filter
def duration(value) -> str:
    return human.duration(value)


@register.filter
def duration_ms(value) -> str:
    return human.duration_ms(value)


@register.filter(name="bytes")
def bytes_(value) -> str:
    return human.size(value)


@register.filter
def cron_words(expression, zone="UTC") -> str:
    return human.cron_words(str(expression or ""), str(zone or "UTC"))


@register.filter
def zone_label(zone) -> str:
    return human.zone_label(str(zone or "UTC"))


@register.simple_tag
def when(at: datetime | None, now: datetime | None = None, absolute: bool = False) -> SafeString:
    """``<time datetime="ISO" title="2026-11-24 17:00 EST">3 h ago</time>`` (``absolute``:
    the local time shown, the relative one on hover); "—" when there is no time."""
    if not isinstance(at, datetime):
        return format_html("{}", human.EMPTY)
    now = now or timezone.now()
    zone = timezone.get_current_timezone()
    local, relative = human.absolute(at, zone), human.ago(at, now=now)
    shown, hover = (local, relative) if absolute else (relative, local)
    return format_html('<time datetime="{}" title="{}">{}</time>', human.iso(at), hover, shown)


@register.simple_tag
def viewer_zone() -> str:
    """The zone times on this page are shown in, as people say it ("New York")."""
    return human.zone_label(timezone.get_current_timezone())
