"""Public verification: a published record by its document id (the short code printed on it, or
its QR code), or an official PDF uploaded by whoever holds it. Each says valid or not and why:
content intact, every signature, the PDF's seal, the entry in the transparency log, and whether
the version is current, superseded or revoked (the read model's word, which the log confirms)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hocba_lookup.application.ports import LogChecker, PdfReader, RecordVerifier
from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.domain.model import (
    PublishedEntry,
    SealCheck,
    UnreadablePdf,
    Verification,
)


@dataclass(frozen=True)
class PdfVerdict:
    """What an uploaded PDF came out as. `verification` is None when the file could not be read as
    a Hocba PDF (`unreadable` says why); `entry` is the read model's record under the PDF's
    document id, None when this lookup does not know it."""

    document_id: str | None
    record_version: int | None
    verification: Verification | None
    entry: PublishedEntry | None
    superseded_reason: str | None = None
    unreadable: tuple[str, str] | None = None
    seal: SealCheck | None = None


UNKNOWN = (
    "Hệ thống tra cứu này không có học bạ {id}: học bạ không do nơi này công bố, hoặc mã học bạ "
    "trong tệp đã bị sửa",
    "This lookup has no record {id}: it was not published here, or the id in the file was changed",
)
OTHER_CONTENT = (
    "Nội dung trong tệp PDF khác với học bạ đã công bố dưới mã {id}",
    "The PDF's record is not the one published as {id}",
)


def _said(text: tuple[str, str], document_id: str) -> tuple[str, str]:
    return text[0].format(id=document_id), text[1].format(id=document_id)


class VerificationService:
    def __init__(
        self,
        lookup: LookupService,
        verifier: RecordVerifier,
        log: LogChecker,
        pdfs: PdfReader,
    ) -> None:
        """`verifier` checks uploaded records: one that keeps no cache, since an upload's
        content is whatever the uploader made it."""
        self.lookup = lookup
        self.verifier = verifier
        self.log = log
        self.pdfs = pdfs

    async def document(self, document_id: str) -> tuple[PublishedEntry, Verification, str | None]:
        """The published record, verified now, with the log's word; the reason it was superseded
        (its newer version's correction), if it was. Raises UnknownDocument."""
        entry, verification = await self.lookup.document(document_id)
        logged = await self.log.check(entry.document_id, entry.record_version, entry.content_sha256)
        reasons = await self.lookup.superseded_reasons([entry])
        return entry, dataclasses.replace(verification, log=logged), reasons.get(entry.document_id)

    async def pdf(self, pdf: bytes) -> PdfVerdict:
        try:
            uploaded = await self.pdfs.read(pdf)
        except UnreadablePdf as exc:
            return PdfVerdict(
                None, None, None, None, unreadable=(exc.message_vi, exc.message_en), seal=exc.seal
            )
        checked = self.verifier.verify(
            uploaded.document, uploaded.content_sha256, uploaded.signatures
        )
        entry = await self.lookup.reader.by_id(uploaded.document_id)
        problems: list[tuple[str, str]] = []
        reason = None
        if entry is None:
            problems.append(_said(UNKNOWN, uploaded.document_id))
        else:
            if entry.content_sha256 != uploaded.content_sha256:
                problems.append(_said(OTHER_CONTENT, entry.document_id))
            reason = (await self.lookup.superseded_reasons([entry])).get(entry.document_id)
        logged = await self.log.check(
            uploaded.document_id, uploaded.record_version, uploaded.content_sha256
        )
        verification = dataclasses.replace(
            checked,
            seal=uploaded.seal,
            log=logged,
            revoked=entry is not None and entry.revocation is not None,
            problems=tuple(problems),
        )
        return PdfVerdict(
            uploaded.document_id,
            uploaded.record_version,
            verification,
            entry,
            superseded_reason=reason,
            seal=uploaded.seal,
        )
