"""The error of a request we refuse at the edge, shared by every app that takes HTTP input
(ingest's endpoints, alert intake)."""

from __future__ import annotations


class RequestError(Exception):
    """A request we refuse, with the HTTP status and a sentence for the sender."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
