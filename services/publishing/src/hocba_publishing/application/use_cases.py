"""Publishing: a signed record becomes an immutable published document with its PDF.

Order of work: skip what is already published (found by record id and version, so a document keeps
the id it was published under, whatever key derives new ids now); verify (hash and signatures) and
refuse with the reason otherwise; render the PDF outside the transaction (it is the slow part);
then, in one transaction, store document and PDF, queue its transparency-log entries (its
publication, and the supersession of the version it corrects) and emit RecordPublished. A
re-delivery publishes nothing.

Revocation (thu hồi): a document is found by its id, the reason checked, then in one transaction
its revocation is stored, its log entry queued and RecordRevoked emitted; the document itself is
not touched.
"""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
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
    PdfRenderer,
    PublishingReader,
    PublishingUnitOfWork,
    SignedRecordVerifier,
)
from hocba_publishing.domain.model import (
    AlreadyRevoked,
    NotPublishable,
    PublishedDocument,
    Revocation,
    UnknownDocument,
    document_id,
    revocation_reason,
)

SOURCE = "hocba/publishing"


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
                doc.supersedes, doc.document_id, doc.record_version, doc.published_at
            )
        )
    return entries


class PublishingService:
    def __init__(
        self,
        uow: PublishingUnitOfWork,
        reader: PublishingReader,
        verifier: SignedRecordVerifier,
        renderer: PdfRenderer,
        *,
        id_key: bytes,
    ) -> None:
        self.uow = uow
        self.reader = reader
        self.verifier = verifier
        self.renderer = renderer
        self.id_key = id_key
        # WeasyPrint is CPU-bound: one render at a time, off the event loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf")

    def _announce(self, data: Any, cause: Envelope[Any] | None) -> Envelope[Any]:
        if cause is None:
            return make_envelope(data, source=SOURCE)
        return make_envelope(
            data, source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.id
        )

    async def publish(
        self, signed: RecordSigned, cause: Envelope[Any] | None = None
    ) -> PublishedDocument | None:
        if await self.reader.find(signed.record_id, signed.record_version) is not None:
            return None
        try:
            self.verifier.verify(signed)
        except NotPublishable as exc:
            await self.reader.save_rejection(signed.record_id, signed.record_version, exc.reason)
            raise
        school_year = str(signed.document.get("school_year", "0000"))
        doc_id = document_id(signed.record_id, signed.record_version, school_year, key=self.id_key)
        signatures = [s.model_dump(mode="json") for s in signed.signatures]
        pdf = await asyncio.get_running_loop().run_in_executor(
            self._executor,
            self.renderer.render,
            signed.document,
            doc_id,
            signed.content_sha256,
            signatures,
        )
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate or await tx.find(signed.record_id, signed.record_version) is not None:
                return None
            previous = await tx.latest(signed.record_id)
            doc = PublishedDocument(
                document_id=doc_id,
                record_id=signed.record_id,
                record_version=signed.record_version,
                student_id=signed.student_id,
                school_year=school_year,
                document=signed.document,
                content_sha256=signed.content_sha256,
                signatures=signatures,
                pdf_sha256=hashlib.sha256(pdf).hexdigest(),
                published_at=_as_stored(datetime.now(UTC)),
                supersedes=previous.document_id
                if previous and previous.record_version < signed.record_version
                else None,
            )
            await tx.save(doc, pdf)
            await tx.log(_logged(doc))
            await tx.emit(
                PUBLISHING_EVENTS.name,
                self._announce(
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
                ),
            )
            return doc

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
