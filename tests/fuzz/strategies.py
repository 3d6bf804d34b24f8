"""Hypothesis strategies for hostile input: the values senders get wrong, or attackers try."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import strategies as st

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\U0001f600",
    "\t\n",
    "a" * 5000,
    "é" * 300,
    "${jndi:ldap://x}",
    "'; DROP TABLE x; --",
    "<script>",
    "9999-12-31T23:00:00-05:00",
    "2026-01-01T00:00:00+16:00",
    "0001-01-01T00:00:00+01:00",
    "2026-13-45T00:00:00Z",
    "999999999 days",
    "-1",
    "NaN",
    "1e400",
    "__proto__",
    "a/b c",
    "alertname=~(",
]
HOSTILE_NUMBERS = [
    0,
    -1,
    2**31,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    1e308,
    -1e308,
    float("inf"),
    float("nan"),
    0.1,
    True,
    False,
]


def bad_scalars():
    return st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.sampled_from(HOSTILE_NUMBERS),
        st.none(),
        st.text(max_size=20),
        st.integers(),
    )


class Deep:
    """A value nested ``depth`` levels deep, written out only when a body is encoded (as a
    Python object it would be too deep for json.dumps and for hypothesis' reports)."""

    def __init__(self, depth: int):
        self.depth = depth

    def __repr__(self) -> str:
        return f"Deep({self.depth})"

    def marker(self) -> str:
        return f"__deep_{self.depth}__"

    def text(self) -> str:
        half = self.depth // 2
        return '{"d":[' * half + "1" + "]}" * half


def encode(body) -> bytes:
    """A body as JSON bytes: lone surrogates as \\ud800 escapes (as a real sender writes
    them), NaN and Infinity as the bare words some senders write, ``Deep`` values expanded."""
    deep: list[Deep] = []

    def default(value):
        if isinstance(value, Deep):
            deep.append(value)
            return value.marker()
        raise TypeError(type(value).__name__)

    text = json.dumps(body, ensure_ascii=True, allow_nan=True, default=default)
    for value in deep:
        text = text.replace(f'"{value.marker()}"', value.text(), 1)
    return text.encode()


def bad_values():
    """Any JSON value a field should not get: wrong types, huge numbers, NUL, surrogates,
    deep nesting, containers of those."""
    return st.one_of(
        bad_scalars(),
        st.sampled_from([Deep(50), Deep(300), Deep(2000), Deep(100_000)]),
        st.lists(bad_scalars(), max_size=4),
        st.dictionaries(st.sampled_from([*HOSTILE_TEXT[:8], "k", "alertname"]), bad_scalars(),
                        max_size=4),
    )  # fmt: skip


QUERY_TEXT = [
    "-1",
    str(2**63),
    str(2**64),
    "1e3",
    "1.5",
    "%00",
    "a%00b",
    "%ED%A0%80",
    "%D9%A1",
    "%C2%B2",
    "true",
    "yes",
    "2026-01-01T00:00:00%2B16:00",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00%2B01:00",
    "2026-13-45T00:00:00Z",
    "2026-11-22T03:00:00Z",
    "-",
    "ledger",
    "domain:ledger",
    "a/b:c",
    "__x:y",
    "-started_at",
    "labels__x",
    "x" * 3000,
]


def query_values():
    """A query parameter's value, already percent-encoded."""
    return st.one_of(
        st.sampled_from(QUERY_TEXT),
        st.text(max_size=12).map(lambda s: quote(s, safe="")),
        st.integers().map(str),
    )
