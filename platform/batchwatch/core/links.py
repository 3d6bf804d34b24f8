"""Which URLs Batchwatch renders as links, shared by pages, Slack and e-mail.

A URL from a sender (Alertmanager ``generatorURL``, PagerDuty ``client_url``, a webhook's
``url``, ``runbook_url``/``dashboard_url`` annotations) is text chosen by whoever holds an
ingest key. Rendered as a link it must not run code (``javascript:``, ``data:``) or open an
app (``slack://``): only absolute ``http``/``https`` URLs with a host are links
(``safe_url``). Slack link buttons are stricter (``trusted_url``): they look like Batchwatch's
own, so they only lead to Batchwatch itself, Grafana, or hosts the operator lists in
``BATCHWATCH_LINK_HOSTS``.

Batchwatch's own URLs come from its URLconf (``reverse()``), never from f-strings:
``absolute_url`` for links that leave the site (Slack, e-mail, Grafana, runbook variables),
``path_for`` for links and redirects inside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import get_script_prefix, reverse

SCHEMES = frozenset({"http", "https"})


def path_for(
    viewname: str, *args: Any, query: Mapping[str, Any] | None = None, **kwargs: Any
) -> str:
    """The path of ``viewname`` (``"web:job"``) for these arguments, with ``query`` encoded
    after a ``?`` when it has items: ``path_for("web:job", 7)`` is ``"/jobs/7/"``."""
    return reverse(viewname, args=args, kwargs=kwargs, query=query or None)


def absolute_url(
    viewname: str, *args: Any, query: Mapping[str, Any] | None = None, **kwargs: Any
) -> str:
    """``path_for`` under ``BATCHWATCH_BASE_URL``: ``absolute_url("web:job", 7)`` is
    ``"https://batchwatch.example.com/jobs/7/"``.

    The base URL is the address Batchwatch's root is reached at from outside, path included,
    so the script prefix ``reverse()`` adds while serving a request is left out (it would
    be there twice).
    """
    path = path_for(viewname, *args, query=query, **kwargs)
    return settings.BATCHWATCH_BASE_URL + "/" + path.removeprefix(get_script_prefix())


def safe_url(url: object) -> str | None:
    """``url`` if it is an absolute http(s) URL with a host, else ``None``.

    Whitespace and control characters are refused rather than stripped: browsers drop them
    inside a scheme (``java\\tscript:``), so a URL that needs cleaning is not one to link to.
    """
    if not isinstance(url, str) or not url or len(url) > 3000:
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # an unbalanced [IPv6 literal or a bad port
        return None
    if parts.scheme.lower() not in SCHEMES or not host or "\\" in url:
        return None
    return url


def _host(url: str) -> str | None:
    try:
        return (urlsplit(url).hostname or "").lower() or None
    except ValueError:
        return None


def link_hosts() -> frozenset[str]:
    """Hosts whose URLs may back a link button: ours, Grafana's and the operator's list."""
    hosts = {_host(settings.BATCHWATCH_BASE_URL)}
    grafana = getattr(settings, "GRAFANA_URL", "")
    if grafana:
        hosts.add(_host(grafana))
    hosts.update(getattr(settings, "BATCHWATCH_LINK_HOSTS", ()))
    return frozenset(h.lower() for h in hosts if h)


def trusted_url(url: object) -> str | None:
    """``url`` if it is safe and its host is one Batchwatch links to, else ``None``."""
    url = safe_url(url)
    if url is None:
        return None
    return url if _host(url) in link_hosts() else None


def slack_escape(text: object) -> str:
    """Slack's own escaping of mrkdwn and ``text``: only ``&``, ``<`` and ``>``.

    After it, ``<!channel>`` or ``<https://evil|Runbook>`` from a sender arrives as literal
    text; mentions and links come only from what Batchwatch writes around it.
    """
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
