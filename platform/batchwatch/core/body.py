"""Reading request bodies safely: size limits before and after decompression."""

from __future__ import annotations

import zlib

from django.conf import settings
from django.http import HttpRequest

from batchwatch.core.errors import RequestError

CHUNK = 64 * 1024


def read_body(request: HttpRequest) -> bytes:
    """The decompressed body, refusing anything over the limit with 413 (gzip bombs included)."""
    limit = settings.BATCHWATCH_INGEST_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"Request body is larger than the {limit} byte limit.")
    # Read the stream directly: request.body would apply Django's form-upload limit instead.
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = request.read(CHUNK)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"Request body is larger than the {limit} byte limit.")
        parts.append(chunk)
    raw = b"".join(parts)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in {"", "identity"}:
        return raw
    if encoding in {"gzip", "x-gzip"}:
        return _gunzip(raw, limit)
    raise RequestError(415, f"Content-Encoding {encoding!r} is not supported; use gzip or none.")


def _gunzip(raw: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise RequestError(400, f"Body is not valid gzip: {exc}.") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise RequestError(413, f"Body decompresses to more than the {limit} byte limit.")
    if not decompressor.eof:
        raise RequestError(400, "Body is truncated gzip (the stream does not end).")
    return out
