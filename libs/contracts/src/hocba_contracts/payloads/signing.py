"""Signing: a closed-year record, signed by the homeroom teacher and then the principal."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from hocba_contracts.envelope import EventPayload
from hocba_contracts.payloads.common import Code, Frozen

SignerRole = Literal["homeroom_teacher", "subject_teacher", "principal", "school_seal"]
"""school_seal: the school's organizational certificate (public-duty CA), held in an HSM."""


class DocumentSignature(Frozen):
    """A detached CMS (CAdES-shaped) signature over the document's canonical bytes.

    The canonical bytes are the RFC 8785 serialization of `RecordSigned.document`.
    `cms` is the DER SignedData, base64; it carries the signer's certificate and chain.
    """

    role: SignerRole
    signer_id: Code
    signer_name: str
    signed_at: datetime
    cms: Annotated[str, Field(description="base64 DER CMS SignedData, detached content")]
    batch: dict[str, Any] | None = Field(
        default=None,
        description="Bulk signature: {statement, proof}. The CMS then covers the canonical bytes of the "
        "Merkle root statement, and proof is this document's inclusion proof (hocba_trust.merkle).",
    )


class RecordSigned(EventPayload):
    """Every required signer has signed the record; it is ready to publish."""

    event_type: ClassVar[str] = "hocba.signing.record_signed"
    version: ClassVar[int] = 2
    record_id: Code
    record_version: Annotated[int, Field(ge=1)]
    student_id: Code
    document: dict[str, Any] = Field(description="The signed document (the closed-year record)")
    content_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    signatures: tuple[DocumentSignature, ...]

    def subject(self) -> str:
        return self.student_id


class SigningRejected(EventPayload):
    """A required signer refused to sign, with the reason: the record goes back to assessment for
    correction (through the class's logged unlock) and comes back as a new version."""

    event_type: ClassVar[str] = "hocba.signing.signing_rejected"
    record_id: Code
    record_version: Annotated[int, Field(ge=1)]
    student_id: Code
    class_id: Code
    school_year: str
    role: SignerRole
    signer_id: Code
    reason: Annotated[str, Field(min_length=1, max_length=1000)]

    def subject(self) -> str:
        return self.student_id


class SignatureReminderDue(EventPayload):
    """A signer's deadline for a record is near (for notification services: e-mail, app, SMS)."""

    event_type: ClassVar[str] = "hocba.signing.signature_reminder_due"
    record_id: Code
    record_version: Annotated[int, Field(ge=1)]
    student_id: Code
    role: SignerRole
    signer_id: Code
    due_at: datetime

    def subject(self) -> str:
        return self.student_id
