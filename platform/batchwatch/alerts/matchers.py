"""Alertmanager matchers: ``name="value"``, ``name!=value``, ``name=~"regex"``, ``name!~...``.

Regular expressions are fully anchored, and a missing label equals the empty string, as in
Alertmanager.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MATCHER = re.compile(
    r"""^\s*(?P<name>[a-zA-Z_][a-zA-Z0-9_.]*)\s*(?P<op>=~|!~|!=|=)\s*(?P<value>.*?)\s*$"""
)
OPERATORS = ("=", "!=", "=~", "!~")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        # parse_matcher compiles the pattern of every =~ and !~ matcher it builds.
        assert self.pattern is not None, f"{self} has no compiled pattern"
        hit = self.pattern.fullmatch(actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
        inner = raw[1:-1]
        return inner.replace('\\"', '"').replace("\\\\", "\\")
    return raw


def parse_matcher(text: str) -> Matcher:
    """One matcher from text; ``ValueError`` with a sentence when it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"a matcher is a string like 'team=\"ledger\"', not {text!r}")
    found = _MATCHER.match(text)
    if not found:
        raise ValueError(f'{text!r} is not a matcher: write name="value" (or !=, =~, !~)')
    name, op, value = found["name"], found["op"], _unquote(found["value"])
    pattern = None
    if op in ("=~", "!~"):
        try:
            pattern = re.compile(value)
        except (re.error, OverflowError) as exc:  # OverflowError: a{99999999999}
            raise ValueError(f"{text!r}: the regular expression is invalid ({exc})") from exc
    return Matcher(name=name, op=op, value=value, pattern=pattern)


def parse_matchers(items: list | None) -> tuple[Matcher, ...]:
    if items is None:
        return ()
    if isinstance(items, dict):  # {"team": "ledger"} is shorthand for equality matchers
        items = [f'{key}="{value}"' for key, value in items.items()]
    if not isinstance(items, list):
        raise ValueError("matchers must be a list of strings like 'team=\"ledger\"'")
    return tuple(parse_matcher(item) for item in items)


def matches_all(matchers: tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    return all(matcher.matches(labels) for matcher in matchers)


def matches_empty(matcher: Matcher) -> bool:
    return matcher.matches({})
