"""Signing use cases.

- A closed-year record becomes a signing request (once per record version, whatever the
  redeliveries): the document, its canonical bytes' SHA-256, and the signers in order.
- With server-side signing configured, the required signers sign inside Hocba at once, each
  signature verified before it is kept.
- From outside, a signer's own software submits a CMS signature; it is verified (content, chain,
  key usage, validity, revocation, signer identity) and refused with the reason otherwise; a
  refusal changes nothing.
- When the last required signature is in, RecordSigned is emitted in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC
from typing import Any

from hocba_contracts import Envelope, make_envelope
from hocba_contracts.payloads.assessment import YearRecordClosed
from hocba_contracts.payloads.signing import DocumentSignature, RecordSigned
from hocba_contracts.topics import SIGNING_EVENTS
from hocba_runtime.canonical import canonical_bytes, sha256_hex
from hocba_runtime.cms import SignatureInvalid
from hocba_signing.application.ports import ServerSigner, SignatureChecker, SigningTx, SigningUnitOfWork
from hocba_signing.domain.model import (
    CollectedSignature,
    RequiredSigner,
    SignatureRefused,
    SigningRequest,
    UnknownRequest,
    build_document,
    request_key,
)

SOURCE = "hocba/signing"
log = logging.getLogger("hocba.signing")


class SigningService:
    def __init__(self, uow: SigningUnitOfWork, checker: SignatureChecker, server_signer: ServerSigner | None = None) -> None:
        self.uow = uow
        self.checker = checker
        self.server_signer = server_signer

    def _announce(self, data: Any, cause: Envelope[Any] | None) -> Envelope[Any]:
        if cause is None:
            return make_envelope(data, source=SOURCE)
        return make_envelope(data, source=SOURCE, correlation_id=cause.correlation_id, causation_id=cause.id)

    async def open_request(self, record: YearRecordClosed, cause: Envelope[Any] | None = None) -> SigningRequest | None:
        """Turn a closed-year record into a signing request; sign server-side if configured."""
        async with self.uow(cause.id if cause else None) as tx:
            if tx.duplicate or await tx.get(request_key(record.record_id, record.record_version)) is not None:
                return None
            document = build_document(record.model_dump(mode="json"))
            request = SigningRequest(
                record_id=record.record_id, record_version=record.record_version,
                student_id=record.student.student_id, document=document,
                content_sha256=sha256_hex(canonical_bytes(document)),
                required=[
                    RequiredSigner("homeroom_teacher", record.class_info.homeroom_teacher.staff_id,
                                   record.class_info.homeroom_teacher.full_name),
                    RequiredSigner("principal", record.school.principal.staff_id, record.school.principal.full_name),
                ],
            )
            if self.server_signer is not None:
                content = canonical_bytes(document)
                for signer in request.required:
                    try:
                        cms = self.server_signer.sign(signer.signer_id, signer.signer_name, content)
                    except LookupError:
                        # No key held for this signer: the request waits for their own signing app.
                        log.info("no server-side key; waiting for an external signature",
                                 extra={"record_id": request.record_id, "role": signer.role, "signer_id": signer.signer_id})
                        break
                    self._accept(request, signer.role, signer.signer_id, cms, content)
            await tx.save(request)
            await self._announce_if_complete(tx, request, cause)
            return request

    async def submit_signature(self, record_id: str, record_version: int, role: str, signer_id: str, cms_b64: str) -> SigningRequest:
        """A signature made outside Hocba (token or remote signing). Verified before it is kept."""
        try:
            cms = base64.b64decode(cms_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureRefused("cms must be the base64 of a DER CMS SignedData", code="signature_malformed") from None
        async with self.uow() as tx:
            request = await tx.get(request_key(record_id, record_version))
            if request is None:
                raise UnknownRequest(f"no signing request for record {record_id} version {record_version}")
            request.check_turn(role, signer_id)
            self._accept(request, role, signer_id, cms, canonical_bytes(request.document))
            await tx.save(request)
            await self._announce_if_complete(tx, request, None)
            return request

    def _accept(self, request: SigningRequest, role: str, signer_id: str, cms: bytes, content: bytes) -> None:
        signer = request.check_turn(role, signer_id)
        try:
            checked = self.checker.check(content, cms, signer_id)
        except SignatureInvalid as exc:
            raise SignatureRefused(
                f"{exc.message_en} / {exc.message_vi}", code="signature_invalid",
                details=[{"field": "cms", "problem": exc.reason, "message_vi": exc.message_vi, "message_en": exc.message_en}],
            ) from None
        request.add(CollectedSignature(
            role=role, signer_id=signer_id, signer_name=signer.signer_name,
            signed_at=checked.signing_time.astimezone(UTC).isoformat(), cms=base64.b64encode(cms).decode(),
        ))

    async def _announce_if_complete(self, tx: SigningTx, request: SigningRequest, cause: Envelope[Any] | None) -> None:
        if not request.complete:
            return
        signed = RecordSigned(
            record_id=request.record_id, record_version=request.record_version, student_id=request.student_id,
            document=request.document, content_sha256=request.content_sha256,
            signatures=tuple(DocumentSignature(role=s.role, signer_id=s.signer_id, signer_name=s.signer_name,  # type: ignore[arg-type]
                                               signed_at=s.signed_at, cms=s.cms) for s in request.signatures),  # type: ignore[arg-type]
        )
        await tx.emit(SIGNING_EVENTS.name, self._announce(signed, cause))
