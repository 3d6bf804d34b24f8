"""``{{ url|link_url }}``: a URL from outside only becomes an ``href`` if it is http(s)."""

from django import template

from batchwatch.core.links import safe_url

register = template.Library()


@register.filter
def link_url(url) -> str:
    """The URL if it may be a link, else ``""`` (the template then shows no link)."""
    return safe_url(url) or ""
