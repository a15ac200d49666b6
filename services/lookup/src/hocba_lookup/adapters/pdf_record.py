"""An uploaded PDF read as the offline verifier reads it (hocba_verifier.record): the record it
carries (`hocba-record.json`) and its PAdES seal, checked against the trust list and CRLs as they
are now, the seal required to be the school's own (its certificate names the school's id). The
file is read in memory and forgotten: never stored, never logged."""

from __future__ import annotations

import asyncio
from typing import Any

from hocba_trust.cms import TrustList
from hocba_verifier import checks
from hocba_verifier.checks import Outcome
from hocba_verifier.record import DamagedAttachment, InputError, record_from_pdf

from hocba_lookup.domain.model import SealCheck, UnreadablePdf, UploadedRecord


def _school_id(document: dict[str, Any]) -> str | None:
    school = document.get("school")
    found = school.get("school_id") if isinstance(school, dict) else None
    return found if isinstance(found, str) and found else None


class VerifierPdfReader:
    """PdfReader with the offline verifier's reading and seal check."""

    def __init__(self, trust: TrustList | None) -> None:
        self.trust = trust

    async def read(self, pdf: bytes) -> UploadedRecord:
        return await asyncio.to_thread(self._read, pdf)

    def _seal(self, seals: Any, publishers: list[str]) -> SealCheck:
        if self.trust is None:
            return SealCheck(
                False,
                "Không kiểm tra được dấu niêm phong: chưa cấu hình chứng thư gốc tin cậy",
                "The seal cannot be checked: no trust roots are configured",
            )
        found = checks.check_seals(seals, self.trust, publishers)
        return SealCheck(found.outcome is Outcome.PASS, found.vi, found.en, tuple(found.details))

    def _read(self, pdf: bytes) -> UploadedRecord:
        try:
            record = record_from_pdf(pdf)
        except DamagedAttachment as exc:
            raise UnreadablePdf(exc.message_vi, exc.message_en, self._seal(exc.seals, [])) from None
        except InputError as exc:
            raise UnreadablePdf(exc.message_vi, exc.message_en) from None
        school = _school_id(record.document)
        return UploadedRecord(
            document_id=record.document_id,
            record_version=record.record_version,
            document=record.document,
            content_sha256=record.content_sha256,
            signatures=[dict(s) for s in record.signatures],
            seal=self._seal(record.seals, [school or "(the record names no school)"]),
        )
