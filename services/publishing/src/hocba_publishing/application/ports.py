"""What the publishing use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from hocba_contracts import Envelope
from hocba_contracts.payloads.signing import RecordSigned

from hocba_publishing.domain.model import (
    LogCheckpoint,
    LogEntry,
    PublishedDocument,
    Revocation,
    StoredPdf,
)


class SignedRecordVerifier(Protocol):
    def verify(self, signed: RecordSigned) -> None:
        """Raise NotPublishable with the reason when the content hash or a signature fails."""
        ...


class PdfRenderer(Protocol):
    def render(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> bytes: ...


class AsyncPdfRenderer(Protocol):
    """Renders off the event loop (a pool of processes, one per core, or a thread)."""

    async def render(
        self,
        document: dict[str, Any],
        document_id: str,
        content_sha256: str,
        signatures: list[dict[str, Any]],
    ) -> bytes: ...


class BookRenderer(Protocol):
    """Renders a whole record book as one PDF, on the thread that calls it (CPU work)."""

    def render_book(
        self, years: list[tuple[dict[str, Any], str, str, list[dict[str, Any]]]]
    ) -> bytes:
        """Each year as (document, document_id, content_sha256, signatures), of one school level."""
        ...


class PdfStore(Protocol):
    """Rendered PDFs, and who is rendering one now (so that a PDF is rendered once, whichever
    replica asks)."""

    async def get(self, document_id: str) -> StoredPdf | None: ...
    async def sha256(self, document_id: str) -> str | None: ...
    async def save(self, document_id: str, pdf: StoredPdf) -> StoredPdf:
        """Keep a rendered PDF; if one was kept meanwhile, that one stands and is returned."""
        ...

    async def claim(self, document_id: str, owner: str, seconds: float) -> bool:
        """Take the right to render the document's PDF for `seconds`; False while another has it."""
        ...

    async def release(self, document_id: str, owner: str) -> None: ...


class PublishingTx(Protocol):
    @property
    def duplicate(self) -> bool: ...  # the message was handled before (read-only)

    @property
    def processed(self) -> set[str]: ...  # of a batch's events, those handled before (many)

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None: ...
    async def emit_many(self, topic: str, envelopes: list[Envelope[Any]]) -> None: ...
    async def find(self, record_id: str, record_version: int) -> PublishedDocument | None: ...
    async def latest(self, record_id: str) -> PublishedDocument | None: ...
    async def save(self, doc: PublishedDocument) -> None: ...
    async def save_many(self, docs: list[PublishedDocument]) -> None:
        """Insert documents in one round trip; any already published fails as a duplicate key."""
        ...

    async def versions(self, record_ids: Collection[str]) -> dict[str, dict[int, str]]:
        """The published versions of these records: record id -> {version: document id}."""
        ...

    async def revocation(self, document_id: str) -> Revocation | None: ...
    async def revoke(self, revocation: Revocation) -> None:
        """Store a revocation; a document's second one fails as a duplicate key."""
        ...

    async def log(self, entries: list[dict[str, Any]]) -> None:
        """Queue transparency-log entries (hocba_trust.logentry) with what this transaction
        stores; an entry queued before (same kind and document) fails as a duplicate key."""
        ...


class PublishingUnitOfWork(Protocol):
    def __call__(
        self, processing: str | None = None
    ) -> AbstractAsyncContextManager[PublishingTx]: ...

    def many(self, processing: list[str]) -> AbstractAsyncContextManager[PublishingTx]:
        """One transaction for a batch of incoming events; `tx.processed` names those handled
        before."""
        ...


class PublishingReader(Protocol):
    async def document(self, document_id: str) -> PublishedDocument | None: ...
    async def for_record(self, record_id: str) -> list[PublishedDocument]: ...
    async def for_student(self, student_id: str) -> list[PublishedDocument]:
        """Every published version of every record of the student, by school year, then version."""
        ...

    async def find(self, record_id: str, record_version: int) -> PublishedDocument | None: ...
    async def versions(self, record_ids: Collection[str]) -> dict[str, dict[int, str]]: ...
    async def save_rejection(self, record_id: str, record_version: int, reason: str) -> None: ...
    async def superseded_by(self, document_id: str) -> str | None:
        """The document that supersedes this one (the next version of its record), if any."""
        ...

    async def revocation(self, document_id: str) -> Revocation | None: ...
    async def revocations(self, record_id: str) -> list[Revocation]:
        """The revocations of every version of a record."""
        ...


class PublicationsLog(Protocol):
    """The transparency log, read: checkpoints, entries and their RFC 9162 proofs. Proofs for sizes
    or indexes the log does not have raise OutsideTheLog."""

    @property
    def verifier_key(self) -> str: ...

    async def latest_checkpoint(self) -> LogCheckpoint | None: ...
    async def checkpoint(self, size: int) -> LogCheckpoint | None: ...
    async def entry(self, index: int) -> LogEntry | None: ...
    async def log_index(self, document_id: str) -> int | None: ...
    async def inclusion_proof(self, index: int, size: int) -> list[bytes]: ...
    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...
    async def bundle(self, document_id: str) -> dict[str, Any] | None:
        """hocba_trust.logentry's bundle of the document's entries against the latest
        checkpoint, plus `pending`: its entries not yet under a checkpoint."""
        ...
