"""Publishing: immutable published records with a document id and the official PDF."""

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
    version: ClassVar[int] = 2
    document_id: Code
    record_id: Code
    record_version: Annotated[int, Field(ge=1)]
    student_id: Code
    document: dict[str, Any]
    content_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    signatures: tuple[DocumentSignature, ...]
    pdf_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    pdf_path: str = Field(description="Path of the PDF on the publishing API")
    published_at: datetime
    supersedes: Code | None = None

    def subject(self) -> str:
        return self.student_id
