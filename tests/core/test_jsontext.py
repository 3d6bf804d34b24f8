"""core.jsontext: orjson's speed, the standard library's answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from batchwatch.core import jsontext


def test_reads_what_the_standard_library_reads():
    for text in ['{"a": [1, 2.5, "x", null, true, -9223372036854775808]}', "NaN", '"\\ud800"']:
        assert repr(jsontext.loads(text)) == repr(json.loads(text))
    assert jsontext.loads(b'{"b": "\\u00e9"}') == {"b": "é"}
    # The one documented difference: orjson reads an integer beyond 64 bits as a float.
    assert jsontext.loads("[123456789012345678901234567890]") == [1.2345678901234568e29]


def test_refuses_what_the_standard_library_refuses_with_its_message():
    with pytest.raises(ValueError) as fast:
        jsontext.loads(b'{"a": ')
    with pytest.raises(ValueError) as slow:
        json.loads(b'{"a": ')
    assert str(fast.value) == str(slow.value)


def test_writes_compact_json_with_iso_times_and_str_for_the_rest():
    at = datetime(2026, 3, 29, 1, 30, 5, 120000, tzinfo=UTC)
    text = jsontext.dumps({"at": at, "n": Decimal("1.5"), 3: ("x", None), "é": "ü"})
    assert json.loads(text) == {"at": at.isoformat(), "n": "1.5", "3": ["x", None], "é": "ü"}
    assert datetime.fromisoformat(json.loads(text)["at"]) == at
    assert " " not in text


def test_writes_integers_beyond_64_bits_through_the_standard_library():
    assert json.loads(jsontext.dumps({"big": 2**70})) == {"big": 2**70}
