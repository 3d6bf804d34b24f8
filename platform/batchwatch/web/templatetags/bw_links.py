"""``{{ url|link_url }}``: a URL from outside only becomes an ``href`` if it is http(s).
``{% path "web:incident" incident.id %}``: ``{% url %}`` for lists of many rows."""

from django import template

from batchwatch.core.links import path_for, safe_url

register = template.Library()


@register.filter
def link_url(url) -> str:
    """The URL if it may be a link, else ``""`` (the template then shows no link)."""
    return safe_url(url) or ""


@register.simple_tag
def path(viewname: str, *args) -> str:
    """The path of ``viewname`` for ``args``, as ``{% url %}`` gives it; a route of one id is
    reversed once and its text reused (``core.links.path_for``), so a list of a hundred
    incidents does not pay reverse() per row."""
    return path_for(viewname, *args)
