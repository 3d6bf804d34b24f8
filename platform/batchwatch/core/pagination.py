"""The API's pagination (a module of its own: DRF's settings import it while loading views)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from django.db.models import F, Q
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination, LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param

MAX_INT = 2**31 - 1


class Pagination(LimitOffsetPagination):
    """DRF's limit/offset, with a 400 for a limit or offset that is not a whole number from
    0 to 2^31 - 1 (DRF falls back to the defaults for some and passes others to the database,
    where an integer beyond 64 bits is an error)."""

    def get_limit(self, request):
        if self.limit_query_param in request.query_params:
            self._whole(request, self.limit_query_param)
        return super().get_limit(request)

    def get_offset(self, request):
        if self.offset_query_param in request.query_params:
            return self._whole(request, self.offset_query_param)
        return 0

    @staticmethod
    def _whole(request, name: str) -> int:
        raw = request.query_params[name]
        if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_INT:
            raise ValidationError({name: [f"{name} must be a whole number from 0 to {MAX_INT}."]})
        return int(raw)


class NewestFirstCursorPagination(BasePagination):
    """Keyset pagination, newest first, for lists too long to count: ``field`` descending
    (rows without it first), then the id descending; ``next``/``previous`` carry an opaque
    ``cursor`` naming the row a page ends at. Each page is a range read of an index on
    (``field`` DESC, id DESC), whatever its depth, and no ``COUNT(*)`` is run: on a table of a
    million rows, limit/offset counts every row for each page and reads through all rows
    before a deep offset. ``limit`` (1 to ``max_limit``) sets the page's size."""

    field = ""
    page_size: int = api_settings.PAGE_SIZE or 100
    max_limit = 1000
    cursor_query_param = "cursor"
    limit_query_param = "limit"

    def paginate_queryset(self, queryset, request, view=None):
        self.base_url = request.build_absolute_uri()
        self.limit = self._limit(request)
        cursor = self._decode(request)
        backward = cursor is not None and cursor[0]
        f = F(self.field)
        order = (
            (f.asc(nulls_last=True), F("pk").asc())
            if backward
            else (f.desc(nulls_first=True), F("pk").desc())
        )
        rows: list = []
        for part in self._parts(queryset, cursor):
            rows += part.order_by(*order)[: self.limit + 1 - len(rows)]
            if len(rows) > self.limit:
                break
        more, page = len(rows) > self.limit, rows[: self.limit]
        if backward:
            page.reverse()
        first, last = (page[0], page[-1]) if page else (None, None)
        self.next_row = last if (more and not backward) or (backward and page) else None
        self.previous_row = first if (more and backward) or (not backward and cursor) else None
        return page

    def _parts(self, queryset, cursor) -> list:
        """The rows after the cursor in its direction, as one or two querysets read in turn
        (rows without ``field`` are a part of their own, so each part is one index range)."""
        name = self.field
        if cursor is None:
            return [queryset]
        backward, value, pk = cursor
        if value is None and not backward:
            missing = queryset.filter(**{f"{name}__isnull": True, "pk__lt": pk})
            return [missing, queryset.filter(**{f"{name}__isnull": False})]
        if value is None:
            return [queryset.filter(**{f"{name}__isnull": True, "pk__gt": pk})]
        if backward:
            newer = Q(**{f"{name}__gt": value}) | Q(**{name: value, "pk__gt": pk})
            newer_rows = queryset.filter(newer, **{f"{name}__gte": value})
            return [newer_rows, queryset.filter(**{f"{name}__isnull": True})]
        older = Q(**{f"{name}__lt": value}) | Q(**{name: value, "pk__lt": pk})
        return [queryset.filter(older, **{f"{name}__lte": value})]

    def _limit(self, request) -> int:
        if self.limit_query_param not in request.query_params:
            return self.page_size
        raw = request.query_params[self.limit_query_param]
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_limit:
            name = self.limit_query_param
            raise ValidationError(
                {name: [f"{name} must be a whole number from 1 to {self.max_limit}."]}
            )
        return int(raw)

    def _decode(self, request) -> tuple[bool, datetime | None, int] | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        try:
            text = base64.urlsafe_b64decode(raw.encode("ascii")).decode("ascii")
            direction, value, pk = text.split("|")
            at = datetime.fromisoformat(value) if value else None
            if direction not in {"n", "p"} or (at is not None and not _storable(at)):
                raise ValueError(direction)
            if not (pk.isdigit() and int(pk) < 2**63):
                raise ValueError(pk)
        except (ValueError, OverflowError, binascii.Error):
            name = self.cursor_query_param
            raise ValidationError(
                {name: [f"{name} is not one of this list's cursors: follow next or previous."]}
            ) from None
        return direction == "p", at.astimezone(UTC) if at else None, int(pk)

    def _link(self, row, backward: bool) -> str | None:
        if row is None:
            return None
        value = getattr(row, self.field)
        text = f"{'p' if backward else 'n'}|{value.isoformat() if value else ''}|{row.pk}"
        cursor = base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii")
        return replace_query_param(self.base_url, self.cursor_query_param, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link(self.next_row, backward=False),
                "previous": self._link(self.previous_row, backward=True),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The following page; null on the last."},
                "previous": {**link, "description": "The page before; null on the first."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Where the page starts: the cursor of a next or previous link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {self.max_limit} (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
            },
        ]


def _storable(at: datetime) -> bool:
    """An aware time the database takes (core.api.instant_problem's rule; that module
    imports DRF's views, which import this one)."""
    return at.tzinfo is not None and 1970 <= at.astimezone(UTC).year <= 9999
