"""Ingest's refusals are the edge's: one class, so that ``core.body.read_body``'s refusals and
ingest's own reach the sender the same way."""

from __future__ import annotations

from batchwatch.core.errors import RequestError as IngestError

__all__ = ["IngestError"]
