"""The API's request parsers: DRF's, refusing what no database column can hold (a module of
its own: DRF's settings import it while loading views)."""

from __future__ import annotations

from django.core.exceptions import TooManyFieldsSent
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def _check_text(data, depth: int = 0) -> None:
    """Refuse what no database column can hold: NUL characters and lone surrogates, in any
    string or key (PostgreSQL refuses NUL in text and JSON; no driver encodes a surrogate)."""
    if isinstance(data, str):
        if "\x00" in data:
            raise ParseError("Text must not contain NUL characters (\\u0000).")
        try:
            data.encode()
        except UnicodeEncodeError:
            raise ParseError("Text must be valid Unicode (a lone surrogate was sent).") from None
    elif isinstance(data, dict):
        for key, value in data.items():
            _check_text(key, depth)
            _check_text(value, depth + 1)
    elif isinstance(data, list | tuple):
        for value in data:
            _check_text(value, depth + 1)
    elif hasattr(data, "lists"):  # a QueryDict (form bodies)
        for key, values in data.lists():
            _check_text(key)
            for value in values:
                _check_text(value)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested too deeply for the parser, NUL characters or lone
    surrogates are a 400 (they were a RecursionError and a database error, both 500s)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        try:
            _check_text(data)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        return data


_TOO_MANY_FIELDS = "The body has more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS allows."


class FormParser(parsers.FormParser):
    """DRF's form parser; more fields than Django takes is a 400 in JSON (Django's own answer
    to TooManyFieldsSent is an HTML page)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except TooManyFieldsSent:
            raise ParseError(_TOO_MANY_FIELDS) from None
        _check_text(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            result = super().parse(stream, media_type, parser_context)
        except TooManyFieldsSent:
            raise ParseError(_TOO_MANY_FIELDS) from None
        _check_text(result.data)
        return result
