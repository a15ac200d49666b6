"""Publishing's HTTP API: published documents and their official PDFs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from hocba_contracts.payloads.common import Code
from pydantic import BaseModel, Field

from hocba_publishing.application.ports import PublishingReader
from hocba_publishing.domain.model import PublishedDocument, UnknownDocument

router = APIRouter(tags=["publishing"])


def _reader(request: Request) -> PublishingReader:
    return request.app.state.reader  # type: ignore[no-any-return]


Reader = Annotated[PublishingReader, Depends(_reader)]


class SignatureOut(BaseModel):
    role: str
    signer_id: str
    signer_name: str
    signed_at: str
    cms: str = Field(description="base64 DER CMS (CAdES-BES), detached; verify it yourself against the trust list")
    batch: dict[str, Any] | None = Field(default=None, description="Bulk signature: Merkle root statement and inclusion proof")


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


def _out(d: PublishedDocument) -> DocumentOut:
    return DocumentOut(
        document_id=d.document_id, record_id=d.record_id, record_version=d.record_version, school_year=d.school_year,
        content_sha256=d.content_sha256, pdf_sha256=d.pdf_sha256, pdf_path=d.pdf_path, published_at=d.published_at,
        supersedes=d.supersedes, document=d.document,
        signatures=[SignatureOut(role=s["role"], signer_id=s["signer_id"], signer_name=s["signer_name"],
                                 signed_at=str(s["signed_at"]), cms=s["cms"], batch=s.get("batch")) for s in d.signatures],
    )


@router.get("/documents/{document_id}", response_model=DocumentOut, summary="A published document")
async def get_document(document_id: Code, reader: Reader) -> DocumentOut:
    found = await reader.document(document_id)
    if found is None:
        raise UnknownDocument(f"no published document {document_id}; check the id printed on the record")
    return _out(found)


@router.get("/documents/{document_id}/pdf", summary="The official PDF of a published document",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
async def get_pdf(document_id: Code, reader: Reader, request: Request) -> Response:
    found = await reader.document(document_id)
    pdf = await reader.pdf(document_id) if found else None
    if found is None or pdf is None:
        raise UnknownDocument(f"no published document {document_id}; check the id printed on the record")
    etag = f'"{found.pdf_sha256}"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(pdf, media_type="application/pdf", headers={
        "ETag": etag, "Cache-Control": "public, max-age=31536000, immutable",
        "Content-Disposition": f'inline; filename="{document_id}.pdf"'})


@router.get("/records/{record_id}/documents", response_model=RecordDocumentsOut, summary="Every published version of a record")
async def record_documents(record_id: Code, reader: Reader) -> RecordDocumentsOut:
    return RecordDocumentsOut(record_id=record_id, documents=[_out(d) for d in await reader.for_record(record_id)])
