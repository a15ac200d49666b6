"""Publishing's HTTP API: published documents and their official PDFs, and a student's whole
record book of a school level as one PDF, for the record's school and class and for the lookup,
and their revocation by the school's principal (`policies.POLICIES`); each handler names the
school and class a document belongs to, and the caller's scope decides."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from hocba_contracts.payloads.common import ClassProfile, Code, SchoolLevel
from hocba_contracts.payloads.publishing import REVOCATION_REASON_MAX_LENGTH
from hocba_runtime.auth import Access, Resource, current_access
from hocba_runtime.errors import DomainError
from pydantic import BaseModel, Field, ValidationError

from hocba_publishing.application.books import RecordBooks
from hocba_publishing.application.ports import PublicationsLog, PublishingReader
from hocba_publishing.application.use_cases import PdfRendering, PublishingService
from hocba_publishing.domain.model import (
    DocumentStatus,
    OutsideTheLog,
    PublishedDocument,
    Revocation,
    UnknownDocument,
    correction_reason,
    document_status,
)

router = APIRouter(tags=["publishing"])


def _reader(request: Request) -> PublishingReader:
    return request.app.state.reader  # type: ignore[no-any-return]


def _service(request: Request) -> PublishingService:
    return request.app.state.publishing  # type: ignore[no-any-return]


def _rendering(request: Request) -> PdfRendering:
    return request.app.state.rendering  # type: ignore[no-any-return]


def _log(request: Request) -> PublicationsLog:
    return request.app.state.log  # type: ignore[no-any-return]


class BookUnavailable(DomainError):
    status = 503
    code = "book_unavailable"


def _books(request: Request) -> RecordBooks:
    """The record books, as the composition root wires them (`app.state.books`: RecordBooks over
    the reader and a WeasyPrintRenderer of its own, lookup_public_url as for the year PDFs)."""
    books: RecordBooks | None = getattr(request.app.state, "books", None)
    if books is None:
        raise BookUnavailable(
            "this publishing server does not print whole record books (no book renderer is "
            "set up); download each year's PDF from /documents/{document_id}/pdf"
        )
    return books


Reader = Annotated[PublishingReader, Depends(_reader)]
Books = Annotated[RecordBooks, Depends(_books)]
Log = Annotated[PublicationsLog, Depends(_log)]
Rendering = Annotated[PdfRendering, Depends(_rendering)]
Service = Annotated[PublishingService, Depends(_service)]
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


class RevocationOut(BaseModel):
    """Who revoked a document (thu hồi), when and why."""

    revoked_by: str = Field(description="Staff id of the principal who revoked it")
    revoked_at: datetime
    reason: str = Field(description="As the verification page shows it")


class DocumentOut(BaseModel):
    document_id: str
    record_id: str
    record_version: int
    school_year: str
    status: DocumentStatus = Field(
        description="published; superseded by a newer version (superseded_by); or revoked "
        "(revocation says who, when and why): a revoked document no longer verifies as valid"
    )
    content_sha256: str
    pdf_sha256: str | None = Field(
        description="SHA-256 of the official PDF; null until it is rendered (right after the "
        "publication, or at its first download)"
    )
    pdf_path: str
    published_at: datetime
    supersedes: str | None
    superseded_by: str | None
    correction: dict[str, Any] | None = Field(
        description="Why this version exists, as its signed record states it (kind: unlock or "
        "summer_reassessment; reason; approved_by; at); null for a first version"
    )
    superseded_reason: str | None = Field(
        description="Why the version that superseded this one was made (its correction's reason)"
    )
    revocation: RevocationOut | None
    log_index: int | None = Field(
        description="Its publication's index in the transparency log (GET /log/documents/{id} "
        "gives the entry and its inclusion proof); null for the second or so until it is logged"
    )
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


def _revocation_out(r: Revocation) -> RevocationOut:
    return RevocationOut(revoked_by=r.revoked_by, revoked_at=r.revoked_at, reason=r.reason)


def _out(
    d: PublishedDocument,
    superseded_by: str | None,
    revocation: Revocation | None,
    log_index: int | None,
    pdf_sha256: str | None,
    successor: PublishedDocument | None = None,
) -> DocumentOut:
    correction = d.document.get("correction")
    return DocumentOut(
        document_id=d.document_id,
        record_id=d.record_id,
        record_version=d.record_version,
        school_year=d.school_year,
        status=document_status(superseded_by, revocation),
        content_sha256=d.content_sha256,
        pdf_sha256=pdf_sha256,
        pdf_path=d.pdf_path,
        published_at=d.published_at,
        supersedes=d.supersedes,
        superseded_by=superseded_by,
        correction=correction if isinstance(correction, dict) else None,
        superseded_reason=None if successor is None else correction_reason(successor.document),
        revocation=None if revocation is None else _revocation_out(revocation),
        log_index=log_index,
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
async def get_document(
    document_id: Code, reader: Reader, log: Log, rendering: Rendering, access: Caller
) -> DocumentOut:
    found = await reader.document(document_id)
    if found is None:
        raise _missing(document_id)
    access.require(_resource(found))
    superseded_by = await reader.superseded_by(document_id)
    return _out(
        found,
        superseded_by,
        await reader.revocation(document_id),
        await log.log_index(document_id),
        await _pdf_sha256(found, rendering),
        None if superseded_by is None else await reader.document(superseded_by),
    )


async def _pdf_sha256(d: PublishedDocument, rendering: PdfRendering) -> str | None:
    return d.pdf_sha256 or await rendering.pdfs.sha256(d.document_id)


PDF_CACHE = "private, no-cache"
"""The PDF carries a child's personal data: no shared cache keeps it, and the caller's own cache
asks again (with the ETag, so an unchanged PDF costs a 304) and is checked again every time."""


@router.get(
    "/documents/{document_id}/pdf",
    summary="The official PDF of a published document",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def get_pdf(
    document_id: Code, reader: Reader, rendering: Rendering, request: Request, access: Caller
) -> Response:
    found = await reader.document(document_id)
    if found is None:
        raise _missing(document_id)
    access.require(_resource(found))
    kept = await _pdf_sha256(found, rendering)
    if kept is not None and request.headers.get("if-none-match") == f'"{kept}"':
        return Response(status_code=304, headers={"ETag": f'"{kept}"', "Cache-Control": PDF_CACHE})
    pdf = await rendering.pdf(document_id)  # rendered now if it was not yet: once
    if pdf is None:
        raise _missing(document_id)
    headers = {"ETag": f'"{pdf.sha256}"', "Cache-Control": PDF_CACHE}
    return Response(
        pdf.pdf,
        media_type="application/pdf",
        headers={**headers, "Content-Disposition": f'inline; filename="{document_id}.pdf"'},
    )


@router.get(
    "/records/{record_id}/documents",
    response_model=RecordDocumentsOut,
    summary="Every published version of a record (the record's school and teachers, the lookup)",
)
async def record_documents(
    record_id: Code, reader: Reader, log: Log, rendering: Rendering, access: Caller
) -> RecordDocumentsOut:
    documents = await reader.for_record(record_id)
    if not documents:
        raise UnknownDocument(
            f"no published document of record {record_id}; it is published once it is signed"
        )
    access.require_all(_resource(d) for d in documents)
    successors = {d.supersedes: d.document_id for d in documents if d.supersedes}
    by_id = {d.document_id: d for d in documents}
    revocations = {r.document_id: r for r in await reader.revocations(record_id)}
    return RecordDocumentsOut(
        record_id=record_id,
        documents=[
            _out(
                d,
                successors.get(d.document_id),
                revocations.get(d.document_id),
                await log.log_index(d.document_id),
                await _pdf_sha256(d, rendering),
                by_id.get(successors.get(d.document_id, "")),
            )
            for d in documents
        ],
    )


BOOK_YEARS = "Hocba-Book-Years"
REVOKED_YEARS = "Hocba-Revoked-Years"


@router.get(
    "/students/{student_id}/book",
    summary="A student's whole record book of one school level as one PDF (the record's school "
    "and teachers, the lookup)",
    description="The profile page once, then the latest published version of each school year of "
    "the level, in school-year order, each year with its own document id, verification QR code "
    "and signatures. A year whose latest version is revoked is left out: the "
    f"`{REVOKED_YEARS}` header lists the school years left out (absent when none is), and "
    f"`{BOOK_YEARS}` the ones printed. The book is rendered when asked and is not sealed: each "
    "year's own PDF (GET /documents/{document_id}/pdf) is the sealed one. The caller must be "
    "allowed every year of the book, as for each year's PDF.",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pdf": {}},
            "headers": {
                BOOK_YEARS: {"description": "School years printed, in order, comma-separated"},
                REVOKED_YEARS: {
                    "description": "School years left out because their latest version is "
                    "revoked, comma-separated; absent when none is"
                },
            },
        },
        404: {"description": "The student has no published year of the level left to print"},
        503: {"description": "This server does not print whole record books"},
    },
)
async def student_book(
    student_id: Code,
    level: Annotated[
        SchoolLevel, Query(description="The book's school level: each level is a book of its own")
    ],
    books: Books,
    access: Caller,
) -> Response:
    book = await books.book(student_id, level)
    # the left-out years too: the answer names them
    access.require_all(_resource(d) for d in (*book.years, *book.revoked))
    headers = {
        "Cache-Control": PDF_CACHE,
        "Content-Disposition": f'inline; filename="hoc-ba-{student_id}-{level}.pdf"',
        BOOK_YEARS: ", ".join(d.school_year for d in book.years),
    }
    if book.revoked:
        headers[REVOKED_YEARS] = ", ".join(d.school_year for d in book.revoked)
    return Response(await books.pdf(book), media_type="application/pdf", headers=headers)


class RevocationIn(BaseModel):
    reason: str = Field(
        default="",
        max_length=REVOCATION_REASON_MAX_LENGTH,
        description="Why the document is revoked (lý do thu hồi), shown on the public "
        "verification page: no personal ID number, date of birth or parent's name",
    )


class RevokedOut(BaseModel):
    document_id: str
    record_id: str
    record_version: int
    status: Literal["revoked"]
    revocation: RevocationOut


@router.post(
    "/documents/{document_id}/revocation",
    response_model=RevokedOut,
    summary="Revoke a published document (the principal of the record's school): it no longer "
    "verifies as valid; the document itself stays as published",
    responses={
        404: {"description": "No published document has this id"},
        409: {"description": "The document was revoked already; the answer says when and by whom"},
        422: {"description": "The reason is missing, too long or holds a personal ID number"},
    },
)
async def revoke(
    document_id: Code, body: RevocationIn, reader: Reader, service: Service, access: Caller
) -> RevokedOut:
    found = await reader.document(document_id)
    if found is None:
        raise _missing(document_id)
    access.require(_resource(found))
    revocation = await service.revoke(document_id, body.reason, by=access.acting_as(None))
    return RevokedOut(
        document_id=revocation.document_id,
        record_id=revocation.record_id,
        record_version=revocation.record_version,
        status="revoked",
        revocation=_revocation_out(revocation),
    )


# The transparency log (RFC 9162 tree, C2SP checkpoints): no personal data, for the lookup to
# serve to anybody and for the city's operators and auditors.

NOTE_TYPE = "text/plain; charset=utf-8"


class InclusionProofOut(BaseModel):
    index: int
    size: int
    proof: list[str] = Field(description="RFC 9162 inclusion path, base64, nearest sibling first")


class ConsistencyProofOut(BaseModel):
    old_size: int
    new_size: int
    proof: list[str] = Field(description="RFC 9162 consistency proof, base64")


class LogEntryOut(BaseModel):
    index: int
    entry: dict[str, Any] = Field(
        description="The entry; its leaf is its RFC 8785 canonical bytes (hocba_trust.logentry)"
    )


class LogBundleOut(BaseModel):
    checkpoint: str = Field(description="The latest signed checkpoint (c2sp.org/tlog-checkpoint)")
    entries: list[dict[str, Any]] = Field(
        description="The document's entries under that checkpoint: {index, entry, proof}"
    )
    pending: list[dict[str, Any]] = Field(
        description="Its entries not yet under a checkpoint (logged within about a second)"
    )


Size = Annotated[int, Query(ge=0, le=2**63 - 1)]
Index = Annotated[int, Path(ge=0, le=2**63 - 1)]
"""Sizes and indexes are uint64 in RFC 9162; MongoDB keeps int64, which holds any log there is."""


async def _checkpoint_note(log: PublicationsLog) -> str:
    checkpoint = await log.latest_checkpoint()
    if checkpoint is None:
        raise OutsideTheLog("the log has signed no checkpoint yet; try again in a second")
    return checkpoint.note


@router.get(
    "/log/checkpoint",
    response_class=PlainTextResponse,
    summary="The transparency log's latest signed checkpoint (c2sp.org/tlog-checkpoint)",
    responses={200: {"content": {NOTE_TYPE: {}}}},
)
async def log_checkpoint(log: Log) -> PlainTextResponse:
    return PlainTextResponse(await _checkpoint_note(log), media_type=NOTE_TYPE)


@router.get(
    "/log/key",
    response_class=PlainTextResponse,
    summary="The log's verifier key (c2sp.org/signed-note): pin it, do not fetch it each time",
    responses={200: {"content": {NOTE_TYPE: {}}}},
)
async def log_key(log: Log) -> PlainTextResponse:
    return PlainTextResponse(log.verifier_key + "\n", media_type=NOTE_TYPE)


@router.get("/log/entries/{index}", response_model=LogEntryOut, summary="One entry of the log")
async def log_entry(index: Index, log: Log) -> LogEntryOut:
    found = await log.entry(index)
    if found is None:
        raise OutsideTheLog(f"the log has no entry {index} (yet)")
    return LogEntryOut(index=found.index, entry=found.entry)


@router.get(
    "/log/proof/inclusion",
    response_model=InclusionProofOut,
    summary="Inclusion proof of entry `index` in the tree of `size` entries",
)
async def log_inclusion(index: Size, size: Size, log: Log) -> InclusionProofOut:
    proof = await log.inclusion_proof(index, size)
    return InclusionProofOut(index=index, size=size, proof=[_b64(h) for h in proof])


@router.get(
    "/log/proof/consistency",
    response_model=ConsistencyProofOut,
    summary="Consistency proof: the tree of `old` entries is a prefix of the tree of `new`",
)
async def log_consistency(old: Size, new: Size, log: Log) -> ConsistencyProofOut:
    proof = await log.consistency_proof(old, new)
    return ConsistencyProofOut(old_size=old, new_size=new, proof=[_b64(h) for h in proof])


@router.get(
    "/log/documents/{document_id}",
    response_model=LogBundleOut,
    summary="A document's log entries with their inclusion proofs and the checkpoint they "
    "prove against: what the offline verifier checks",
)
async def log_document(document_id: Code, log: Log) -> LogBundleOut:
    bundle = await log.bundle(document_id)
    if bundle is None:
        raise OutsideTheLog("the log has signed no checkpoint yet; try again in a second")
    if not bundle["entries"] and not bundle["pending"]:
        raise UnknownDocument(
            f"the log has no entry for document {document_id}; check the id printed on the record"
        )
    return LogBundleOut.model_validate(bundle)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
