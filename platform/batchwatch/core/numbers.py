"""Numbers that senders and people type: what ``str.isdigit`` lets through and ``int`` or the
database then refuse ('²' is a digit to Python; an id beyond 2^63 overflows a bigint)."""

from __future__ import annotations

MAX_ID = 2**63 - 1  # the largest bigint


def parse_id(raw: object) -> int | None:
    """A database id from text (ASCII digits, 1 to 2^63 - 1); None for anything else."""
    text = str(raw or "")
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
