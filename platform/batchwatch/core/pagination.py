"""The API's pagination (a module of its own: DRF's settings import it while loading views)."""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

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
