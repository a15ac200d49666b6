"""Publishing: a signed record becomes an immutable published document with its PDF.

Order of work: skip what is already published (found by record id and version, so a document keeps
the id it was published under, whatever key derives new ids now); verify (hash and signatures) and
refuse with the reason otherwise; then, in one transaction, store the document, queue its
transparency-log entries (its publication, and the supersession of the version it corrects) and
emit RecordPublished. A re-delivery publishes nothing. The PDF is not waited for: `PdfRendering`
renders it afterwards, eagerly (a worker reading the announcements) or at its first download, once.

Revocation (thu hồi): a document is found by its id, the reason checked, then in one transaction
its revocation is stored, its log entry queued and RecordRevoked emitted; the document itself is
not touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hocba_contracts import Envelope, make_envelope
from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked
from hocba_contracts.payloads.signing import RecordSigned
from hocba_contracts.topics import PUBLISHING_EVENTS
from hocba_runtime.mongo import is_duplicate_key
from hocba_runtime.uow import retry_transient
from hocba_trust import logentry

from hocba_publishing.application.ports import (
    AsyncPdfRenderer,
    PdfStore,
    PublishingReader,
    PublishingUnitOfWork,
    SignedRecordVerifier,
)
from hocba_publishing.domain.model import (
    AlreadyRevoked,
    NotPublishable,
    PublishedDocument,
    Revocation,
    StoredPdf,
    UnknownDocument,
    correction_reason,
    document_id,
    revocation_reason,
)

SOURCE = "hocba/publishing"
log = logging.getLogger("hocba.publishing")


def _as_stored(at: datetime) -> datetime:
    """A time to the millisecond, as a MongoDB date keeps it: the document announced and the one
    read back later carry the same publication time."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def _logged(doc: PublishedDocument) -> list[dict[str, Any]]:
    """The log entries of a publication: the document's, and the supersession of the version it
    corrects."""
    entries = [
        logentry.published(
            doc.document_id,
            doc.record_version,
            doc.content_sha256,
            doc.published_at,
            doc.supersedes,
        )
    ]
    if doc.supersedes:
        entries.append(
            logentry.superseded(
                doc.supersedes,
                doc.document_id,
                doc.record_version,
                doc.published_at,
                correction_reason(doc.document),
            )
        )
    return entries


@dataclass(frozen=True)
class PublishedBatch:
    published: list[PublishedDocument]
    refused: dict[int, NotPublishable]
    """By the record's place in the batch: why it was not published."""


class PublishingService:
    def __init__(
        self,
        uow: PublishingUnitOfWork,
        reader: PublishingReader,
        verifier: SignedRecordVerifier,
        *,
        id_key: bytes,
    ) -> None:
        self.uow = uow
        self.reader = reader
        self.verifier = verifier
        self.id_key = id_key

    def _announce(self, data: Any, cause: Envelope[Any] | None) -> Envelope[Any]:
        if cause is None:
            return make_envelope(data, source=SOURCE)
        return make_envelope(
            data, source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.id
        )

    def _document(
        self, signed: RecordSigned, at: datetime, versions: dict[int, str]
    ) -> PublishedDocument:
        """The document a signed record becomes; `versions`, its record's versions published
        before (version -> document id): it supersedes the latest lower one."""
        school_year = str(signed.document.get("school_year", "0000"))
        older = [v for v in versions if v < signed.record_version]
        return PublishedDocument(
            document_id=document_id(
                signed.record_id, signed.record_version, school_year, key=self.id_key
            ),
            record_id=signed.record_id,
            record_version=signed.record_version,
            student_id=signed.student_id,
            school_year=school_year,
            document=signed.document,
            content_sha256=signed.content_sha256,
            signatures=[s.model_dump(mode="json") for s in signed.signatures],
            pdf_sha256=None,
            published_at=at,
            supersedes=versions[max(older)] if older else None,
        )

    def _announcement(
        self, doc: PublishedDocument, signed: RecordSigned, cause: Envelope[Any] | None
    ) -> Envelope[Any]:
        return self._announce(
            RecordPublished(
                document_id=doc.document_id,
                record_id=doc.record_id,
                record_version=doc.record_version,
                student_id=doc.student_id,
                document=doc.document,
                content_sha256=doc.content_sha256,
                signatures=signed.signatures,
                pdf_sha256=doc.pdf_sha256,
                pdf_path=doc.pdf_path,
                published_at=doc.published_at,
                supersedes=doc.supersedes,
            ),
            cause,
        )

    async def _verified(self, signed: RecordSigned) -> None:
        try:
            self.verifier.verify(signed)
        except NotPublishable as exc:
            await self.reader.save_rejection(signed.record_id, signed.record_version, exc.reason)
            raise

    async def publish(
        self, signed: RecordSigned, cause: Envelope[Any] | None = None
    ) -> PublishedDocument | None:
        if await self.reader.find(signed.record_id, signed.record_version) is not None:
            return None
        await self._verified(signed)
        async with self.uow(cause.id if cause else None) as tx:
            versions = (await tx.versions([signed.record_id])).get(signed.record_id, {})
            if tx.duplicate or signed.record_version in versions:
                return None
            doc = self._document(signed, _as_stored(datetime.now(UTC)), versions)
            await tx.save(doc)
            await tx.log(_logged(doc))
            await tx.emit(PUBLISHING_EVENTS.name, self._announcement(doc, signed, cause))
            return doc

    @retry_transient()
    async def publish_many(
        self, batch: list[tuple[RecordSigned, Envelope[Any] | None]]
    ) -> PublishedBatch:
        """Publish a batch of signed records (a poll of the signing topic) in one transaction:
        what is published already is skipped, what does not verify is refused (`refused`, by its
        place in the batch, for the caller to dead-letter), and the rest is stored, logged and
        announced together, each version superseding the one before it (within the batch too).
        The same rules as `publish`, record for record, in a few round trips."""
        versions = await self.reader.versions({s.record_id for s, _ in batch})
        refused: dict[int, NotPublishable] = {}
        todo: dict[tuple[str, int], tuple[RecordSigned, Envelope[Any] | None]] = {}
        for index, (signed, cause) in enumerate(batch):
            key = (signed.record_id, signed.record_version)
            if key in todo or signed.record_version in versions.get(signed.record_id, {}):
                continue
            try:
                await self._verified(signed)
            except NotPublishable as exc:
                refused[index] = exc
                continue
            todo[key] = (signed, cause)
        if not todo:
            return PublishedBatch([], refused)
        causes = [cause.id for _, cause in todo.values() if cause is not None]
        at = _as_stored(datetime.now(UTC))
        async with self.uow.many(causes) as tx:
            versions = await tx.versions({rid for rid, _ in todo})
            docs, entries, events = [], [], []
            for key in sorted(todo):  # a record's versions in order: each supersedes the last
                signed, cause = todo[key]
                mine = versions.setdefault(signed.record_id, {})
                if signed.record_version in mine or (
                    cause is not None and cause.id in tx.processed
                ):
                    continue
                doc = self._document(signed, at, mine)
                mine[doc.record_version] = doc.document_id
                docs.append(doc)
                entries += _logged(doc)
                events.append(self._announcement(doc, signed, cause))
            await tx.save_many(docs)
            await tx.log(entries)
            await tx.emit_many(PUBLISHING_EVENTS.name, events)
        return PublishedBatch(docs, refused)

    @retry_transient()
    async def revoke(self, document_id: str, reason: str, by: str) -> Revocation:
        """Revoke a published document (thu hồi), for `reason`, as the staff member `by`.

        Rules: the document must be published (UnknownDocument, 404); the reason must say
        something, within 500 characters and without a personal ID number (InvalidRevocation,
        422), since the public verification page shows it; a document is revoked once, and a
        second revocation is refused saying when and by whom the first was made (AlreadyRevoked,
        409). The revocation and its RecordRevoked commit together; the published document and
        its PDF stay as they are.
        """
        doc = await self.reader.document(document_id)
        if doc is None:
            raise UnknownDocument(
                f"no published document {document_id}; check the id printed on the record"
            )
        kept = revocation_reason(reason)
        school = doc.document.get("school")
        revocation = Revocation(
            document_id=doc.document_id,
            record_id=doc.record_id,
            record_version=doc.record_version,
            student_id=doc.student_id,
            school_id=str(school["school_id"])
            if isinstance(school, dict) and school.get("school_id")
            else None,
            revoked_by=by,
            reason=kept,
            revoked_at=_as_stored(datetime.now(UTC)),
        )
        try:
            async with self.uow() as tx:
                earlier = await tx.revocation(document_id)
                if earlier is not None:
                    raise AlreadyRevoked(earlier)
                await tx.revoke(revocation)
                await tx.log(
                    [logentry.revoked(document_id, revocation.reason, revocation.revoked_at)]
                )
                await tx.emit(
                    PUBLISHING_EVENTS.name,
                    # the event states the revocation as kept, field for field (but the school)
                    self._announce(
                        RecordRevoked.model_validate(revocation, from_attributes=True), None
                    ),
                )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            earlier = await self.reader.revocation(document_id)  # revoked meanwhile
            if earlier is None:
                raise
            raise AlreadyRevoked(earlier) from None
        return revocation


class PdfRendering:
    """A published document's official PDF, rendered once, whichever replica or worker asks first.

    `pdf` returns the kept PDF, or renders it: the one that claims the document's render (a lease of
    `claim_seconds` in the store) renders and keeps it; others asking meanwhile wait for it, and
    take the render over if the claim lapses (its worker was killed mid-render: nothing was kept,
    so nothing is lost, and the PDF is rendered by the next one alone). A render runs off the event
    loop, in the renderer's pool of processes."""

    def __init__(
        self,
        reader: PublishingReader,
        pdfs: PdfStore,
        renderer: AsyncPdfRenderer,
        *,
        claim_seconds: float = 30.0,
        poll_seconds: float = 0.1,
    ) -> None:
        self.reader = reader
        self.pdfs = pdfs
        self.renderer = renderer
        self.claim_seconds = claim_seconds
        self.poll_seconds = poll_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self.rendered = 0
        """Renders this process made (a measure, and what a test counts)."""
        self._attempts: dict[str, asyncio.Future[StoredPdf | None]] = {}

    async def pdf(self, document_id: str) -> StoredPdf | None:
        """The document's PDF, rendered now if need be; None if no such document is published.
        Askers in this process share one attempt (the claim is the process's); other processes
        wait on the claim."""
        kept = await self.pdfs.get(document_id)
        if kept is not None:
            return kept
        attempt = self._attempts.get(document_id)
        if attempt is None:
            attempt = asyncio.ensure_future(self._obtain(document_id))
            self._attempts[document_id] = attempt
            attempt.add_done_callback(lambda _: self._attempts.pop(document_id, None))
        return await asyncio.shield(attempt)

    async def _obtain(self, document_id: str) -> StoredPdf | None:
        doc = await self.reader.document(document_id)
        if doc is None:
            return None
        while True:
            if await self.pdfs.claim(document_id, self.owner, self.claim_seconds):
                try:
                    return await self._render(doc)
                finally:
                    await self.pdfs.release(document_id, self.owner)
            await asyncio.sleep(self.poll_seconds)
            kept = await self.pdfs.get(document_id)
            if kept is not None:
                return kept

    async def _render(self, doc: PublishedDocument) -> StoredPdf:
        kept = await self.pdfs.get(doc.document_id)  # rendered by the one before the claim
        if kept is not None:
            return kept
        pdf = await self.renderer.render(
            doc.document, doc.document_id, doc.content_sha256, doc.signatures
        )
        self.rendered += 1
        return await self.pdfs.save(
            doc.document_id, StoredPdf(pdf, hashlib.sha256(pdf).hexdigest())
        )

    async def render_all(self, document_ids: list[str]) -> None:
        """Render these documents' PDFs (an eager worker's batch), as many at once as the pool
        has processes; a document already rendered costs one read."""
        await asyncio.gather(*(self.pdf(d) for d in dict.fromkeys(document_ids)))
