"""What the lookup use cases need from the outside world."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from hocba_lookup.domain.model import (
    LogCheck,
    PublishedEntry,
    Revocation,
    UploadedRecord,
    Verification,
)


class RecordVerifier(Protocol):
    def verify(
        self, document: dict[str, Any], content_sha256: str, signatures: list[dict[str, Any]]
    ) -> Verification: ...


class LookupTx(Protocol):
    @property
    def duplicate(self) -> bool: ...  # the message was handled before (read-only)

    async def upsert(self, entry: PublishedEntry, key: str) -> None: ...
    async def mark_superseded(self, document_id: str, by: str) -> None: ...
    async def superseding(self, document_id: str) -> str | None: ...
    async def revoke(self, document_id: str, revocation: Revocation) -> None:
        """Keep the revocation of a document, and mark its entry if it is projected; the first
        revocation of a document stands."""
        ...

    async def revocation(self, document_id: str) -> Revocation | None: ...


class LookupUnitOfWork(Protocol):
    def __call__(self, processing: str | None = None) -> AbstractAsyncContextManager[LookupTx]: ...


class LookupReader(Protocol):
    async def by_key(self, key: str) -> list[PublishedEntry]: ...
    async def by_id(self, document_id: str) -> PublishedEntry | None: ...


class PdfSource(Protocol):
    async def pdf(self, document_id: str) -> bytes | None:
        """The published PDF, None when publishing has no such document; raises PdfUnavailable
        when it cannot be fetched now."""
        ...


@dataclass(frozen=True)
class LogAnswer:
    """Publishing's answer about its transparency log, as it gave it: no personal data in it."""

    status: int
    media_type: str
    body: bytes


class LogSource(Protocol):
    async def get(self, path: str, params: dict[str, int] | None = None) -> LogAnswer:
        """GET a path of publishing's log API (`/log/...`); raises LogUnavailable when publishing
        cannot be reached or refuses the lookup."""
        ...


class LogChecker(Protocol):
    async def check(
        self, document_id: str, record_version: int | None, content_sha256: str
    ) -> LogCheck:
        """Whether the document's publication, with this version and content, is in the
        transparency log, proven under the log's pinned key; never raises for an unreachable log
        (that is a LogCheck too)."""
        ...


class PdfReader(Protocol):
    async def read(self, pdf: bytes) -> UploadedRecord:
        """The record an uploaded PDF carries and its seal, checked; raises UnreadablePdf."""
        ...
