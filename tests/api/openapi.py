"""The API's own OpenAPI document, for tests that check a field is described as it is sent."""

from __future__ import annotations

import re
from functools import cache

from drf_spectacular.generators import SchemaGenerator


@cache
def openapi() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def schema_property(component: str, name: str) -> dict:
    return openapi()["components"]["schemas"][component]["properties"][name]


def allows(prop: dict, value) -> bool:
    """Whether ``value`` fits the property's type, nullability and pattern (the parts of
    OpenAPI these tests need)."""
    if value is None:
        return bool(prop.get("nullable"))
    kinds = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list}
    if "type" in prop and not isinstance(value, kinds[prop["type"]]):
        return False
    return "pattern" not in prop or re.search(prop["pattern"], value) is not None
