"""Publishing: immutable published records with a document id and the official PDF, and their
revocations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import Field

from hocba_contracts.envelope import EventPayload
from hocba_contracts.payloads.common import Code
from hocba_contracts.payloads.signing import DocumentSignature


class RecordPublished(EventPayload):
    """A signed record was published: it will never change; a correction supersedes it."""

    event_type: ClassVar[str] = "hocba.publishing.record_published"
    version: ClassVar[int] = 3
    document_id: Code
    record_id: Code
    record_version: Annotated[int, Field(ge=1)]
    student_id: Code
    document: dict[str, Any]
    content_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    signatures: tuple[DocumentSignature, ...]
    pdf_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None,
        description="SHA-256 of the PDF when it was rendered before the announcement (v2 always); "
        "since v3 a publication does not wait for its PDF, which is rendered afterwards and served "
        "at pdf_path",
    )
    pdf_path: str = Field(description="Path of the PDF on the publishing API")
    published_at: datetime
    supersedes: Code | None = None

    def subject(self) -> str:
        return self.student_id


REVOCATION_REASON_MAX_LENGTH = 500
"""A revocation's reason is shown on the public verification page: a sentence or two."""

RevocationReason = Annotated[
    str,
    Field(
        min_length=1,
        max_length=REVOCATION_REASON_MAX_LENGTH,
        pattern=r"\S",
        description="Why the document was revoked, as the verification page shows it (lý do thu "
        "hồi); never a personal ID number or a date of birth",
    ),
]


class RecordRevoked(EventPayload):
    """A published document was revoked (thu hồi) by the principal of its school, with the reason:
    it no longer verifies as valid. The document itself is kept unchanged; its revocation is a
    record of its own, and a document is revoked at most once."""

    event_type: ClassVar[str] = "hocba.publishing.record_revoked"
    version: ClassVar[int] = 1
    document_id: Code
    record_id: Code
    record_version: Annotated[int, Field(ge=1)]
    student_id: Code
    revoked_by: Code = Field(description="Staff id of the principal who revoked it")
    reason: RevocationReason
    revoked_at: datetime

    def subject(self) -> str:
        return self.student_id
