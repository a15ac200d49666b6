"""Lookup use cases: project published and revoked records, find them for parents, verify them
afresh."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from hocba_contracts import Envelope
from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked

from hocba_lookup.application.ports import LookupReader, LookupUnitOfWork, RecordVerifier
from hocba_lookup.domain.model import (
    PublishedEntry,
    Revocation,
    UnknownDocument,
    Verification,
    lookup_key,
)


class LookupService:
    def __init__(
        self, uow: LookupUnitOfWork, reader: LookupReader, verifier: RecordVerifier, secret: str
    ) -> None:
        self.uow = uow
        self.reader = reader
        self.verifier = verifier
        self.secret = secret

    async def project(self, published: RecordPublished, cause: Envelope[Any] | None = None) -> bool:
        """Add a published record to the read model (idempotent; links superseded versions)."""
        student = published.document.get("student", {})
        key = lookup_key(
            self.secret,
            str(student.get("citizen_id", "")),
            date.fromisoformat(str(student.get("date_of_birth"))),
        )
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return False
            entry = PublishedEntry(
                document_id=published.document_id,
                record_id=published.record_id,
                record_version=published.record_version,
                student_id=published.student_id,
                school_year=str(published.document.get("school_year", "")),
                document=published.document,
                content_sha256=published.content_sha256,
                signatures=[s.model_dump(mode="json") for s in published.signatures],
                pdf_sha256=published.pdf_sha256,
                pdf_path=published.pdf_path,
                published_at=published.published_at,
                supersedes=published.supersedes,
                superseded_by=await tx.superseding(published.document_id),
                revocation=await tx.revocation(published.document_id),
            )
            await tx.upsert(entry, key)
            if published.supersedes:
                await tx.mark_superseded(published.supersedes, published.document_id)
            return True

    async def revoke(self, revoked: RecordRevoked, cause: Envelope[Any] | None = None) -> bool:
        """Mark a document revoked (idempotent; the revocation is kept even when it arrives before
        the publication, which then comes out revoked)."""
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return False
            await tx.revoke(
                revoked.document_id,
                Revocation(reason=revoked.reason, revoked_at=revoked.revoked_at),
            )
            return True

    async def find(self, citizen_id: str, date_of_birth: date) -> list[PublishedEntry]:
        """The student's records, newest school year and version first; ties (never two of a
        year's versions) in the order of publication, then of document id: the same order however
        the read model was built (a rebuilt one stores them in another order)."""
        entries = await self.reader.by_key(lookup_key(self.secret, citizen_id, date_of_birth))
        return sorted(
            entries,
            key=lambda e: (e.school_year, e.record_version, e.published_at, e.document_id),
            reverse=True,
        )

    async def superseded_reasons(self, entries: list[PublishedEntry]) -> dict[str, str]:
        """Why each superseded entry was superseded: the reason its newer version states for its
        correction (read from the entries given, else from the read model)."""
        by_id = {e.document_id: e for e in entries}
        out: dict[str, str] = {}
        for e in entries:
            if e.superseded_by is None:
                continue
            newer = by_id.get(e.superseded_by) or await self.reader.by_id(e.superseded_by)
            reason = None if newer is None else newer.correction_reason
            if reason:
                out[e.document_id] = reason
        return out

    async def document(self, document_id: str) -> tuple[PublishedEntry, Verification]:
        entry = await self.reader.by_id(document_id)
        if entry is None:
            raise UnknownDocument(
                f"no published record {document_id}; check the id printed on the record"
            )
        verification = self.verifier.verify(entry.document, entry.content_sha256, entry.signatures)
        return entry, dataclasses.replace(verification, revoked=entry.revocation is not None)
