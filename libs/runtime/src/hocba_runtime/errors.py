"""Domain errors every service maps to HTTP the same way."""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be done as asked. `code` is machine-readable; the message says
    what to fix and never repeats personal data."""

    status = 422
    code = "invalid"

    def __init__(
        self, message: str, *, code: str | None = None, details: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or []


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
