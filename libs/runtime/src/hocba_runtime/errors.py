"""Domain errors every service maps to HTTP the same way."""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be done as asked. `code` is machine-readable; the message says
    what to fix and never repeats personal data. `message_vi`: the same in Vietnamese, for the
    answers a parent or a verifier reads; `headers`: the answer's own (Retry-After); `status`:
    this error's, where one class serves several."""

    status = 422
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: list[dict[str, str]] | None = None,
        message_vi: str | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or []
        self.message_vi = message_vi
        self.headers = headers


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
