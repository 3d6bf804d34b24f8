"""The shape of a configuration-as-code document, checked before anything reads it.

The loaders (``alerts load-config``, ``slo load``) walk their documents with ``.get`` and
indexing; a list where a mapping belongs, or a number where a list of matchers does, would
otherwise surface as an ``AttributeError`` traceback. ``problems()`` names every malformed node
by its path in the document and, when the text came through ``load()``, its line:
``route.routes[1].matchers (line 14): expected a list of matchers like 'team="ledger"', found a
number``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import yaml

Path = tuple[str | int, ...]


class Document(dict):
    """A loaded YAML mapping that remembers the line of each node (``lines[path]``, 1-based)."""

    lines: dict[Path, int]


def load(text: str) -> Any:
    """``yaml.safe_load`` that returns a ``Document`` (with lines) when the root is a mapping.

    Raises ``yaml.YAMLError`` as ``safe_load`` does."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    if node is None or not isinstance(data, dict):
        return data
    document = Document(data)
    document.lines = {}
    _record_lines(node, (), document.lines)
    return document


def _record_lines(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    if len(lines) > 100_000:  # an alias bomb is refused by the loader; this bounds the rest
        return
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                _record_lines(value_node, (*path, key_node.value), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)


def where(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the document"


def _found(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"{value!r} (a number)"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


# --- Shapes --------------------------------------------------------------------------------


class Shape:
    expected = "?"

    def check(self, value: Any, path: Path, out: list[tuple[Path, str]]) -> None:
        raise NotImplementedError


class AnyValue(Shape):
    def check(self, value, path, out):
        return None


class Text(Shape):
    """A string (numbers pass too: YAML reads ``name: 2026`` as one)."""

    expected = "a text"

    def check(self, value, path, out):
        # An empty value (``name:``) is refused too: the loaders read it as the text itself.
        if isinstance(value, list | dict | bool) or not isinstance(value, str | int | float):
            out.append((path, f"expected {self.expected}, found {_found(value)}"))


class Scalar(Shape):
    """One value (text, number, boolean, date), not a list or a mapping."""

    expected = "a single value"

    def check(self, value, path, out):
        if isinstance(value, list | dict):
            out.append((path, f"expected {self.expected}, found {_found(value)}"))


class Time(Scalar):
    expected = "a time like 2026-11-22T02:00:00Z"

    def check(self, value, path, out):
        if not isinstance(value, str | datetime | date):
            out.append((path, f"expected {self.expected}, found {_found(value)}"))


@dataclass
class ListOf(Shape):
    item: Shape
    expected: str = "a list"
    text_ok: bool = False  # a single text stands for a list of one (``receiver: pager``)

    def check(self, value, path, out):
        if value is None or (self.text_ok and isinstance(value, str)):
            return
        if not isinstance(value, list):
            out.append((path, f"expected {self.expected}, found {_found(value)}"))
            return
        for index, item in enumerate(value):
            if item is None and isinstance(self.item, Mapping | Lazy):  # "- " alone
                expected = self.item.expected if isinstance(self.item, Mapping) else "a mapping"
                out.append(((*path, index), f"expected {expected}, found nothing"))
                continue
            self.item.check(item, (*path, index), out)


@dataclass
class Mapping(Shape):
    fields: dict[str, Shape] = field(default_factory=dict)
    expected: str = "a mapping"
    values: Shape | None = None  # for free-form mappings: every value's shape

    def check(self, value, path, out):
        if value is None:
            return
        if not isinstance(value, dict):
            out.append((path, f"expected {self.expected}, found {_found(value)}"))
            return
        for key, item in value.items():
            if isinstance(key, list | dict):
                out.append((path, f"a key is {_found(key)}; keys are names"))
                continue
            shape = self.fields.get(key) if isinstance(key, str) else None
            shape = shape or self.values
            if shape is not None:
                shape.check(item, (*path, key if isinstance(key, str) else str(key)), out)


@dataclass
class Lazy(Shape):
    """For recursive shapes (a route's ``routes:``)."""

    resolve: Any

    def check(self, value, path, out):
        self.resolve().check(value, path, out)


class Matchers(Shape):
    expected = "a list of matchers like 'team=\"ledger\"' (or a mapping of label: value)"

    def check(self, value, path, out):
        if isinstance(value, dict):
            Mapping(values=Scalar()).check(value, path, out)
        elif value is not None and not isinstance(value, list):
            out.append((path, f"expected {self.expected}, found {_found(value)}"))
        else:
            for index, item in enumerate(value or []):
                if not isinstance(item, str):
                    out.append(
                        (
                            (*path, index),
                            f"expected a matcher like 'team=\"ledger\"', found {_found(item)}",
                        )
                    )


def problems(document: Any, shape: Shape, *, prefix: str = "") -> list[str]:
    """One sentence per malformed node: ``<prefix><path> (line N): expected ..., found ...``."""
    found: list[tuple[Path, str]] = []
    shape.check(document, (), found)
    lines = getattr(document, "lines", None) or {}
    out = []
    for path, message in found:
        line = lines.get(path)
        at = f" (line {line})" if line else ""
        out.append(f"{prefix}{where(path)}{at}: {message}")
    return out
