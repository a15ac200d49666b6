"""Publishing's HTTP API: published documents and their official PDFs, for the record's school and
class and for the lookup (`policies.POLICIES`); each handler names the school and class a document
belongs to, and the caller's scope decides."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from hocba_contracts.payloads.common import ClassProfile, Code
from hocba_runtime.auth import Access, Resource, current_access
from pydantic import BaseModel, Field, ValidationError

from hocba_publishing.application.ports import PublishingReader
from hocba_publishing.domain.model import PublishedDocument, UnknownDocument

router = APIRouter(tags=["publishing"])


def _reader(request: Request) -> PublishingReader:
    return request.app.state.reader  # type: ignore[no-any-return]


Reader = Annotated[PublishingReader, Depends(_reader)]
Caller = Annotated[Access, Depends(current_access)]


class SignatureOut(BaseModel):
    role: str
    signer_id: str
    signer_name: str
    signed_at: str
    cms: str = Field(
        description="base64 DER CMS (CAdES-BES), detached; verify it yourself against the trust list"
    )
    batch: dict[str, Any] | None = Field(
        default=None, description="Bulk signature: Merkle root statement and inclusion proof"
    )


class DocumentOut(BaseModel):
    document_id: str
    record_id: str
    record_version: int
    school_year: str
    content_sha256: str
    pdf_sha256: str
    pdf_path: str
    published_at: datetime
    supersedes: str | None
    signatures: list[SignatureOut]
    document: dict[str, Any]


class RecordDocumentsOut(BaseModel):
    record_id: str
    documents: list[DocumentOut]


def _resource(d: PublishedDocument) -> Resource:
    """The school, class and teachers of a published record, from its own content. A record whose
    class cannot be read names no teacher: only its school's staff and the lookup reach it."""
    school = d.document.get("school")
    info = d.document.get("class_info")
    try:
        cls: ClassProfile | None = ClassProfile.model_validate(info)
    except ValidationError:
        cls = None
    return Resource(
        school_id=school.get("school_id") if isinstance(school, dict) else None,
        class_id=cls.class_id if cls else None,
        student_ids=(d.student_id,),
        record_id=d.record_id,
        teachers=cls.teachers() if cls else frozenset(),
    )


def _missing(document_id: str) -> UnknownDocument:
    return UnknownDocument(
        f"no published document {document_id}; check the id printed on the record"
    )


def _out(d: PublishedDocument) -> DocumentOut:
    return DocumentOut(
        document_id=d.document_id,
        record_id=d.record_id,
        record_version=d.record_version,
        school_year=d.school_year,
        content_sha256=d.content_sha256,
        pdf_sha256=d.pdf_sha256,
        pdf_path=d.pdf_path,
        published_at=d.published_at,
        supersedes=d.supersedes,
        document=d.document,
        signatures=[
            SignatureOut(
                role=s["role"],
                signer_id=s["signer_id"],
                signer_name=s["signer_name"],
                signed_at=str(s["signed_at"]),
                cms=s["cms"],
                batch=s.get("batch"),
            )
            for s in d.signatures
        ],
    )


@router.get(
    "/documents/{document_id}",
    response_model=DocumentOut,
    summary="A published document (the record's school and teachers, the lookup)",
)
async def get_document(document_id: Code, reader: Reader, access: Caller) -> DocumentOut:
    found = await reader.document(document_id)
    if found is None:
        raise _missing(document_id)
    access.require(_resource(found))
    return _out(found)


PDF_CACHE = "private, no-cache"
"""The PDF carries a child's personal data: no shared cache keeps it, and the caller's own cache
asks again (with the ETag, so an unchanged PDF costs a 304) and is checked again every time."""


@router.get(
    "/documents/{document_id}/pdf",
    summary="The official PDF of a published document",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_pdf(document_id: Code, reader: Reader, request: Request, access: Caller) -> Response:
    found = await reader.document(document_id)
    if found is None:
        raise _missing(document_id)
    access.require(_resource(found))
    etag = f'"{found.pdf_sha256}"'
    headers = {"ETag": etag, "Cache-Control": PDF_CACHE}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    pdf = await reader.pdf(document_id)
    if pdf is None:
        raise _missing(document_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={**headers, "Content-Disposition": f'inline; filename="{document_id}.pdf"'},
    )


@router.get(
    "/records/{record_id}/documents",
    response_model=RecordDocumentsOut,
    summary="Every published version of a record (the record's school and teachers, the lookup)",
)
async def record_documents(record_id: Code, reader: Reader, access: Caller) -> RecordDocumentsOut:
    documents = await reader.for_record(record_id)
    if not documents:
        raise UnknownDocument(
            f"no published document of record {record_id}; it is published once it is signed"
        )
    access.require_all(_resource(d) for d in documents)
    return RecordDocumentsOut(record_id=record_id, documents=[_out(d) for d in documents])
