"""What the lookup use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from hocba_lookup.domain.access import AccessCode, IssuedCopy, RateLimit, Session
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
    @property
    def processed(self) -> set[str]:
        """With `LookupUnitOfWork.many`: the ids of the batch's events handled before (skip
        them); empty otherwise."""
        ...

    async def upsert(self, entry: PublishedEntry, key: str) -> None: ...
    async def mark_superseded(self, document_id: str, by: str) -> None: ...
    async def superseding(self, document_id: str) -> str | None: ...
    async def revoke(self, document_id: str, revocation: Revocation) -> None:
        """Keep the revocation of a document, and mark its entry if it is projected; the first
        revocation of a document stands."""
        ...

    async def revocation(self, document_id: str) -> Revocation | None: ...

    # A batch's reads and writes, each in one round trip or a few, whatever the number of
    # documents: the same as the methods above, document for document.
    async def superseding_many(self, document_ids: Collection[str]) -> dict[str, str]:
        """`superseding` of each document: the id of the stored entry that supersedes it, for
        those a stored entry supersedes."""
        ...

    async def revocations_many(self, document_ids: Collection[str]) -> dict[str, Revocation]:
        """`revocation` of each document, for those that have one."""
        ...

    async def upsert_many(self, entries: Sequence[tuple[PublishedEntry, str]]) -> None:
        """`upsert(entry, key)` of each (entry, key), in their order."""
        ...

    async def mark_superseded_many(self, marks: Mapping[str, str]) -> None:
        """`mark_superseded(document_id, by)` of each document id and the id superseding it."""
        ...

    async def revoke_many(self, revocations: Mapping[str, Revocation]) -> None:
        """`revoke(document_id, revocation)` of each document id and its revocation."""
        ...


class LookupUnitOfWork(Protocol):
    def __call__(self, processing: str | None = None) -> AbstractAsyncContextManager[LookupTx]: ...
    def many(self, processing: list[str]) -> AbstractAsyncContextManager[LookupTx]:
        """One transaction for a batch of incoming events: `tx.processed` names those handled
        before; the others are marked processed when it commits."""
        ...


class LookupReader(Protocol):
    async def by_key(self, key: str) -> list[PublishedEntry]: ...
    async def by_id(self, document_id: str) -> PublishedEntry | None: ...
    async def by_student(self, student_id: str) -> list[PublishedEntry]: ...
    async def students_of_class(
        self, school_id: str, school_year: str, class_name: str
    ) -> list[str]:
        """The student ids with a published record of that class and year, sorted."""
        ...


class PdfSource(Protocol):
    async def pdf(self, document_id: str) -> bytes | None:
        """The published PDF, None when publishing has no such document; raises PdfUnavailable
        when it cannot be fetched now."""
        ...

    async def book(self, student_id: str, level: str) -> tuple[bytes, list[str]] | None:
        """The whole record book of a school level and the school years printed in it; None when
        publishing has no published year of that level to print; raises PdfUnavailable when it
        cannot be fetched now."""
        ...


class CodeHasher(Protocol):
    """Argon2id hashing of access codes, off the event loop."""

    async def hash(self, code: str) -> str: ...
    async def verify(self, code_hash: str | None, code: str) -> bool:
        """Exactly one verification: against `code_hash`, or a fixed dummy hash of the same
        parameters when it is None (then False)."""
        ...


class AccessStore(Protocol):
    """Access codes, sessions, failure counts, rate-limit counters and issued copies: the
    lookup's own collections, apart from the read model rebuilt from Kafka."""

    async def save_code(self, code: AccessCode) -> None:
        """Store a student's code, replacing (voiding) any earlier one."""
        ...

    async def code_by_lookup_key(self, lookup_key: str) -> AccessCode | None: ...
    async def hit(self, subject: str, limit: RateLimit, now: datetime) -> int:
        """Count an attempt in the subject's current window; the seconds until the window ends
        when the limit is passed, else 0."""
        ...

    async def locked(self, student_key: str, now: datetime) -> bool: ...
    async def failed(self, student_key: str, now: datetime) -> None:
        """Count a failure; lock after MAX_FAILURES consecutive ones."""
        ...

    async def clear_failures(self, student_key: str) -> bool:
        """Forget the failures and any lockout; True when there was something to clear."""
        ...

    async def create_session(self, token_hash: str, session: Session) -> None: ...
    async def session(self, token_hash: str, now: datetime) -> Session | None:
        """The session, its idle time renewed (within its cap), or None when it is gone."""
        ...

    async def end_session(self, token_hash: str) -> None: ...
    async def end_sessions_of(self, student_id: str) -> int: ...
    async def record_copy(self, copy: IssuedCopy) -> None: ...
    async def copies_of(self, student_id: str) -> list[IssuedCopy]: ...


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
