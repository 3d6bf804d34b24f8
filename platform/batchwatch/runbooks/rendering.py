"""Runbook Markdown → sanitised HTML, with the template variables of one incident, run or job.

Variables stand as placeholders while Markdown runs and become HTML-escaped values after it;
the HTML is then cleaned by nh3 (Ammonia): a ``<script>``, an ``onclick`` or a
``javascript:`` link in a runbook (or in a value such as a failure reason) renders inert.
"""

from __future__ import annotations

import html
import re

import markdown
import nh3

from batchwatch.core.links import path_for
from batchwatch.runbooks.source import VARIABLE, VARIABLES

TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt",
    "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre",
    "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "h2": {"id"},
    "h3": {"id"},
    "code": {"class"},
    "span": {"class"},
    "div": {"class"},
}
EMPTY = "—"
_RUNBOOK_FILE_LINK = re.compile(r'href="(?:\./)?([a-z0-9][a-z0-9-]*)\.md"')


def _token(index: int) -> str:
    """A placeholder Markdown leaves alone wherever it stands (text, code, a link target)."""
    return f"BWVAR{index}X"


def render(body: str, context: dict[str, str], *, link_query: str = "") -> str:
    """Markdown first, with the variables as inert placeholders; then each placeholder becomes
    its HTML-escaped value; then the sanitiser. A value is always text, never markup.

    Links to other runbook files (``other.md``) become their pages, with ``link_query`` (the
    same incident, run or job) so that they render with the same values."""
    names: list[str] = []

    def placeholder(match: re.Match) -> str:
        if match.group(1) not in VARIABLES:
            return match.group(0)
        names.append(match.group(1))
        return _token(len(names) - 1)

    source = VARIABLE.sub(placeholder, body)
    converted = markdown.markdown(
        source, extensions=["fenced_code", "tables", "sane_lists", "toc"], output_format="html"
    )
    for index, name in reversed(list(enumerate(names))):
        value = str(context.get(name) or "")
        # An unknown URL links nowhere rather than to a relative "—".
        converted = converted.replace(
            f'href="{_token(index)}"', f'href="{html.escape(value or "#")}"'
        )
        converted = converted.replace(_token(index), html.escape(value or EMPTY, quote=True))
    converted = _RUNBOOK_FILE_LINK.sub(
        lambda m: f'href="{path_for("web:runbook", m.group(1))}{link_query}"', converted
    )
    return nh3.clean(
        converted,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )
