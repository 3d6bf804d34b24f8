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

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.urls import (
    NoReverseMatch,
    Resolver404,
    get_script_prefix,
    get_urlconf,
    resolve,
    reverse,
)

SCHEMES = frozenset({"http", "https"})


def path_for(
    viewname: str, *args: Any, query: Mapping[str, Any] | None = None, **kwargs: Any
) -> str:
    """The path of ``viewname`` (``"web:job"``) for these arguments, with ``query`` encoded
    after a ``?`` when it has items: ``path_for("web:job", 7)`` is ``"/jobs/7/"``."""
    one_id = len(args) == 1 and type(args[0]) is int and args[0] >= 0
    one_slug = len(args) == 1 and type(args[0]) is str and _SLUG.match(args[0]) is not None
    if not kwargs and (not args or one_id or one_slug) and (query is None or type(query) is dict):
        # The common shapes (no argument, one id or one slug), as the ledger builds thousands
        # of links per pass and a page lists a hundred teams: reverse() matches the URL's
        # pattern every time (~50 us); the route's text around its id (its slug) is the same
        # for every one, so reverse once per view and reuse it.
        where = (settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())
        route = (
            _route_around_slug(viewname, *where)
            if one_slug
            else _route_around_id(viewname, len(args), *where)
        )
        if route is not None:
            head, tail = route
            path = head + (str(args[0]) + tail if args else "")
            return path + "?" + urlencode(query, doseq=True) if query else path
    return reverse(viewname, args=args, kwargs=kwargs, query=query or None)


def paths_by_id(viewname: str) -> Callable[[int], str]:
    """``path_for(viewname, id)`` for many ids, as a page of hundreds of links needs it (the
    health grid's squares): the URLconf and script prefix, which path_for reads per call from
    the thread's state, are read once here. Made again per page."""
    where = (settings.ROOT_URLCONF, get_urlconf(), get_script_prefix())
    route = _route_around_id(viewname, 1, *where)

    def path(value: int) -> str:
        if route is not None and type(value) is int and value >= 0:
            return f"{route[0]}{value}{route[1]}"
        return path_for(viewname, value)

    return path


_SENTINEL = 9_087_654_321


@functools.lru_cache(maxsize=1024)
def _route_around_id(
    viewname: str, arity: int, root_urlconf: str, urlconf: str | None, prefix: str
) -> tuple[str, str] | None:
    """``viewname``'s path without arguments as ``(path, "")`` (``arity`` 0), or for a route
    taking one number, the text before and after it (``arity`` 1); ``None`` when reverse()
    must answer each time. Keyed by the URLconf and script prefix reverse() reads."""
    if arity == 0:
        try:
            return reverse(viewname, urlconf=urlconf), ""
        except (NoReverseMatch, TypeError, ValueError):
            return None
    try:
        path = reverse(viewname, args=[_SENTINEL], urlconf=urlconf)
    except (NoReverseMatch, TypeError, ValueError):  # (a route whose converter wants text)
        return None
    head, found, tail = path.partition(str(_SENTINEL))
    return (head, tail) if found and str(_SENTINEL) not in tail else None


# A slug as the ``slug`` converter takes it: reverse() puts it in the path as it is.
_SLUG = re.compile(r"[-a-zA-Z0-9_]+\Z")
_SLUG_SENTINEL = "Bw-sentinel_slug0"


@functools.lru_cache(maxsize=1024)
def _route_around_slug(
    viewname: str, root_urlconf: str, urlconf: str | None, prefix: str
) -> tuple[str, str] | None:
    """For a route taking one ``<slug:...>`` and nothing else, the text before and after it;
    ``None`` for any other route (a ``str`` or custom converter may refuse a slug that the
    ``slug`` converter takes, so only reverse() answers for those)."""
    try:
        path = reverse(viewname, args=[_SLUG_SENTINEL], urlconf=urlconf)
        route = resolve("/" + path.removeprefix(prefix), urlconf=urlconf).route
    except (NoReverseMatch, Resolver404, TypeError, ValueError):
        return None
    if route.count("<") != 1 or "<slug:" not in route:
        return None
    head, found, tail = path.partition(_SLUG_SENTINEL)
    return (head, tail) if found and _SLUG_SENTINEL not in tail else None


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


def absolute_urls_by_id(viewname: str) -> Callable[[int | str], str]:
    """``absolute_url(viewname, id)`` for many ids, as a loop making thousands of links needs
    it (the ledger: four per signal): the route is reversed once here and its text around the
    id reused; reverse() costs ~60 us a call, most of it reading the thread's URLconf and
    script prefix. Only ids the route takes as they are (a non-negative number; letters and
    digits where the route takes text) use the text; any other goes through ``absolute_url``.
    Made again per batch: the base URL and URLconf are read when it is made."""
    before, found, after = absolute_url(viewname, _SENTINEL).partition(str(_SENTINEL))
    try:
        takes_text = absolute_url(viewname, "a0") == f"{before}a0{after}"
    except (NoReverseMatch, TypeError, ValueError):
        takes_text = False

    def url(value: int | str) -> str:
        if found and type(value) is int and value >= 0:
            return f"{before}{value}{after}"
        if found and takes_text and type(value) is str and value.isascii() and value.isalnum():
            return f"{before}{value}{after}"
        return absolute_url(viewname, value)

    return url


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
