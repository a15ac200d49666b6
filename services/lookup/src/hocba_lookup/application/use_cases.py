"""Lookup use cases: project published and revoked records, find them for parents, verify them
afresh."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
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
        self,
        uow: LookupUnitOfWork,
        reader: LookupReader,
        verifier: RecordVerifier,
        secret: str,
        *,
        changed: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        """`changed`: told the document ids of the entries a projection wrote, once it committed
        (what keeps entries in memory drops them, so that this process reads its own writes)."""
        self.uow = uow
        self.reader = reader
        self.verifier = verifier
        self.secret = secret
        self.changed = changed

    def _wrote(self, payloads: Iterable[RecordPublished | RecordRevoked]) -> None:
        if self.changed is None:
            return
        ids: set[str] = set()
        for payload in payloads:
            ids.add(payload.document_id)
            if isinstance(payload, RecordPublished) and payload.supersedes:
                ids.add(payload.supersedes)
        self.changed(ids)

    async def project(self, published: RecordPublished, cause: Envelope[Any] | None = None) -> bool:
        """Add a published record to the read model (idempotent; links superseded versions)."""
        key = self._key(published)
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate:
                return False
            entry = _entry(
                published,
                superseded_by=await tx.superseding(published.document_id),
                revocation=await tx.revocation(published.document_id),
            )
            await tx.upsert(entry, key)
            if published.supersedes:
                await tx.mark_superseded(published.supersedes, published.document_id)
        self._wrote([published])
        return True

    async def project_many(
        self, batch: Sequence[tuple[RecordPublished | RecordRevoked, Envelope[Any] | None]]
    ) -> list[bool]:
        """Project a batch of publications and revocations (a poll of the publishing topic) in one
        transaction, with the outcome of `project` and `revoke` applied to each in the batch's
        order: each event once (the inbox; an event twice in the batch counts once), a version
        superseded by one before or after it in the batch marked so, a revocation before or
        after its publication in the batch standing. Whether each was applied (False: handled
        before), by its place in the batch.

        The batch is read in two round trips (the entries superseding its documents, the
        revocations kept of them) and replayed in order in memory, and what it comes to is written
        in a few bulk writes: each of its entries as the batch leaves it (superseded by a later
        version of the batch or one stored, revoked by a revocation stored or before it in the
        batch), the marks of the entries stored before that it supersedes, then its revocations,
        which mark the entries stored and those just written that are not revoked yet."""
        applied = [False] * len(batch)
        if not batch:
            return applied
        keys = {p.document_id: self._key(p) for p, _ in batch if isinstance(p, RecordPublished)}
        async with self.uow.many([c.id for _, c in batch if c is not None]) as tx:
            seen = set(tx.processed)
            todo: list[tuple[int, RecordPublished | RecordRevoked]] = []
            for index, (payload, cause) in enumerate(batch):
                if cause is not None:
                    if cause.id in seen:
                        continue
                    seen.add(cause.id)
                todo.append((index, payload))
                applied[index] = True
            if not todo:
                return applied
            publications = {p.document_id for _, p in todo if isinstance(p, RecordPublished)}
            superseding = await tx.superseding_many(publications)
            revocations = await tx.revocations_many({p.document_id for _, p in todo})
            entries: dict[str, tuple[PublishedEntry, str]] = {}
            marks: dict[str, str] = {}
            revoked: dict[str, Revocation] = {}
            for _, payload in todo:
                document_id = payload.document_id
                if isinstance(payload, RecordPublished):
                    entries[document_id] = (
                        _entry(
                            payload,
                            superseded_by=superseding.get(document_id),
                            revocation=revocations.get(document_id),
                        ),
                        keys[document_id],
                    )
                    if payload.supersedes:
                        superseding.setdefault(payload.supersedes, document_id)
                        marks[payload.supersedes] = document_id
                        _change(entries, payload.supersedes, superseded_by=document_id)
                else:
                    kept = revocations.setdefault(
                        document_id,
                        Revocation(reason=payload.reason, revoked_at=payload.revoked_at),
                    )
                    revoked.setdefault(document_id, kept)
            await tx.upsert_many(list(entries.values()))
            await tx.mark_superseded_many({d: by for d, by in marks.items() if d not in entries})
            await tx.revoke_many(revoked)  # after the upserts: it marks entries of the batch too
        self._wrote(p for _, p in todo)
        return applied

    def _key(self, published: RecordPublished) -> str:
        student = published.document.get("student", {})
        return lookup_key(
            self.secret,
            str(student.get("citizen_id", "")),
            date.fromisoformat(str(student.get("date_of_birth"))),
        )

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
        self._wrote([revoked])
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


def _entry(
    published: RecordPublished, superseded_by: str | None, revocation: Revocation | None
) -> PublishedEntry:
    return PublishedEntry(
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
        superseded_by=superseded_by,
        revocation=revocation,
    )


def _change(
    entries: dict[str, tuple[PublishedEntry, str]], document_id: str, **changes: Any
) -> None:
    """Change an entry of the batch in memory, if the batch has it."""
    if document_id in entries:
        entry, key = entries[document_id]
        entries[document_id] = (dataclasses.replace(entry, **changes), key)
