"""The public verification of a published record: the JSON answer for other systems
(`GET /api/documents/{id}`, `POST /api/verify` for a PDF) and the verification pages (`/verify`,
where one types the short code or uploads a PDF, and `/verify/{id}`, where the QR code printed on
every page of the record leads). Each says valid or not and why: content intact, each signature
(who, in which role, for which school, whose certificate, when, in Vietnam's time), the PDF's seal,
the entry in the transparency log, and whether the version is current, superseded or revoked.

A verifier sees what matches the paper to the person, never the personal ID number, the date of
birth, the place of birth or the parents, and no PDF. An uploaded PDF is read in memory for the
one answer: never stored, never logged, and nothing of it is written back but the checks' results
and the published record's public summary.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from hocba_contracts.payloads.common import Code
from hocba_runtime.errors import DomainError
from hocba_runtime.web import Csrf
from python_multipart.multipart import MultipartParser, parse_options_header

from hocba_lookup.application.verification import PdfVerdict
from hocba_lookup.domain.model import (
    ROLE_TITLES,
    ROLE_TITLES_EN,
    UnknownDocument,
    normalize_document_id,
)
from hocba_lookup.entrypoints.deps import Forms, Verifications
from hocba_lookup.entrypoints.pages import page
from hocba_lookup.entrypoints.views import (
    DocumentOut,
    PdfVerificationOut,
    ProblemOut,
    document_out,
    summary,
    verification_out,
)

router = APIRouter()

MAX_PDF = 10 * 1024 * 1024
"""The largest PDF accepted (a year record's is a few hundred KB), within the service's limit on
request bodies (HOCBA_LOOKUP_MAX_BODY_BYTES), which the whole upload must fit."""


FORM_ROOM = 16 * 1024
"""What the upload form's other fields and the multipart framing take, at most."""


def _limit(request: Request) -> int:
    """The largest upload: a PDF within the service's limit on bodies, with room for the form
    (a body beyond the service's limit is refused before it reaches a route: a bare 413)."""
    return min(MAX_PDF, int(request.app.state.runtime.settings.max_body_bytes) - FORM_ROOM)


def _size(limit: int) -> str:
    return f"{limit / (1024 * 1024):.1f}".rstrip("0").rstrip(".") + " MB"


def _too_large(limit: int) -> tuple[str, str]:
    return (
        f"Tệp quá lớn: tệp tải lên tối đa {_size(limit)} (một học bạ số dạng PDF chỉ vài trăm KB).",
        f"The file is too large: an upload is at most {_size(limit)} (a học bạ số PDF is a few "
        "hundred KB).",
    )


CODE_ERROR = (
    "Mã học bạ không đúng dạng. Mã in ở cuối mỗi trang học bạ, cạnh mã QR, dạng "
    "HB-2024-XXXX-XXXX-XXXX (4 chữ số năm học rồi 12 chữ cái hoặc chữ số).",
    "That is not a document code. It is printed at the foot of every page, next to the QR code, "
    "as HB-2024-XXXX-XXXX-XXXX (the school year's 4 digits, then 12 letters or digits).",
)
NOT_PDF = (
    "Tệp đã chọn không phải tệp PDF. Hãy chọn tệp PDF học bạ số mà nhà trường cấp.",
    "The file chosen is not a PDF. Choose the học bạ số PDF the school issued.",
)
NO_FILE = (
    "Chưa chọn tệp. Hãy chọn tệp PDF học bạ số cần kiểm tra.",
    "No file was chosen. Choose the học bạ số PDF to verify.",
)
EXPIRED = (
    "Biểu mẫu đã hết hạn. Hãy tải lại trang xác minh rồi chọn lại tệp.",
    "The form has expired. Reload the verification page and choose the file again.",
)


UPLOAD_CODES = {413: "too_large", 415: "not_a_pdf", 422: "no_file"}


class _BadUpload(DomainError):
    """An upload refused: the API answers it as every error (`hocba_runtime`), the pages show
    `said` beside the file field."""

    def __init__(self, status: int, said: tuple[str, str]) -> None:
        super().__init__(said[1], code=UPLOAD_CODES[status], message_vi=said[0], status=status)
        self.said = said


# -- JSON ---------------------------------------------------------------------------------------


@router.get(
    "/api/documents/{document_id}",
    response_model=DocumentOut,
    tags=["verification"],
    summary="A published record, verified now (what a verifier needs; nothing personal)",
    description="Content hash, every signature (signer, role, school, certificate issuer, "
    "signing time) against the trust list and CRLs as they are now, the document's entry in the "
    "transparency log proven under the log's key, and its standing (published, superseded, "
    "revoked). `verification.outcome` sums it up; `unchecked` means the log could not be asked "
    "now, which is not valid.",
)
async def api_document(
    document_id: Code, request: Request, verifications: Verifications
) -> DocumentOut:
    entry, verification, reason = await verifications.document(document_id)
    reasons = {entry.document_id: reason} if reason else {}
    return document_out(request, entry, verification, reasons)


def _pdf_out(request: Request, verdict: PdfVerdict) -> PdfVerificationOut:
    v = verdict.verification
    return PdfVerificationOut(
        outcome="invalid" if v is None else v.outcome,
        valid=v is not None and v.valid,
        document_id=verdict.document_id,
        record_version=verdict.record_version,
        known=verdict.entry is not None,
        unreadable=None
        if verdict.unreadable is None
        else ProblemOut(message_vi=verdict.unreadable[0], message_en=verdict.unreadable[1]),
        record=None
        if verdict.entry is None
        else summary(request, verdict.entry, verdict.superseded_reason),
        verification=None if v is None else verification_out(v),
    )


@router.post(
    "/api/verify",
    response_model=PdfVerificationOut,
    tags=["verification"],
    summary="Verify an official PDF: the request body (application/pdf), or a form's `pdf` file",
    description="The record the PDF carries (hocba-record.json): its content hash and every "
    "signature; the PDF's PAdES seal, which must be the school's and cover the whole file; the "
    "document's entry in the transparency log; and the standing of its document id in this "
    "lookup. The body is the PDF itself (application/pdf; or multipart/form-data with the file as "
    "`pdf`), at most the service's request limit "
    "(HOCBA_LOOKUP_MAX_BODY_BYTES, 1 MB by default; 10 MB at most); it is not stored. 413 when "
    "larger, 415 when it is not a PDF. Each check's result is in `verification`; `outcome` sums "
    "them up: valid, invalid, revoked, or unchecked (the transparency log could not be asked).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"pdf": {"type": "string", "format": "binary"}},
                        "required": ["pdf"],
                    }
                },
            },
        }
    },
    responses={413: {"description": "Larger than the limit"}, 415: {"description": "Not a PDF"}},
)
async def api_verify(request: Request, verifications: Verifications) -> Response:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        data = (await _form(request)).get("pdf", b"")
    elif media in ("application/pdf", "application/octet-stream"):
        data = await _body(request, _limit(request))
    else:
        raise _BadUpload(415, NOT_PDF)
    _check_pdf(data)
    verdict = await verifications.pdf(data)
    return JSONResponse(_pdf_out(request, verdict).model_dump(mode="json"))


# -- pages --------------------------------------------------------------------------------------


def _start(
    request: Request,
    csrf: Csrf,
    status: int = 200,
    code_error: bool = False,
    file_error: tuple[str, str] | None = None,
) -> HTMLResponse:
    """The start page, its forms empty: what was typed or chosen is never written back."""
    cookies: dict[str, str] = {}
    token = csrf.token(request, cookies)
    return page(
        request,
        "verify_start.html",
        status=status,
        here="/verify",
        cookies=cookies,
        csrf=csrf,
        csrf_field=csrf.field,
        csrf_token=token,
        code_error=CODE_ERROR if code_error else None,
        file_error=file_error,
        max_size=_size(_limit(request)),
    )


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_start(request: Request, csrf: Forms, code: str | None = None) -> Response:
    """The start page; with `code` (its form), the document's page, or the form again saying
    what is wrong with the code."""
    if code is None:
        return _start(request, csrf)
    document_id = normalize_document_id(code)
    if document_id is None:
        return _start(request, csrf, status=422, code_error=True)
    return RedirectResponse(f"/verify/{document_id}", status_code=303)


@router.get("/verify/{document_id}", response_class=HTMLResponse, include_in_schema=False)
async def verify_document(
    document_id: Code, request: Request, verifications: Verifications
) -> HTMLResponse:
    try:
        entry, verification, reason = await verifications.document(document_id)
    except UnknownDocument:
        return page(request, "verify.html", status=404, found=False, document_id=document_id)
    reasons = {entry.document_id: reason} if reason else {}
    return page(
        request,
        "verify.html",
        found=True,
        r=document_out(request, entry, verification, reasons),
        roles=ROLE_TITLES,
        roles_en=ROLE_TITLES_EN,
    )


@router.post("/verify/pdf", response_class=HTMLResponse, include_in_schema=False)
async def verify_pdf(request: Request, csrf: Forms, verifications: Verifications) -> HTMLResponse:
    try:
        fields = await _form(request)
    except _BadUpload as exc:
        return _start(request, csrf, status=exc.status, file_error=exc.said)
    token = fields.get("csrf_token", b"").decode("utf-8", "replace")
    if not csrf.valid(request, token):
        return _start(request, csrf, status=403, file_error=EXPIRED)
    data = fields.get("pdf", b"")
    try:
        _check_pdf(data)
    except _BadUpload as exc:
        return _start(request, csrf, status=exc.status, file_error=exc.said)
    verdict = await verifications.pdf(data)
    del data, fields
    return page(
        request,
        "verify_pdf.html",
        here="/verify",
        r=_pdf_out(request, verdict),
        roles=ROLE_TITLES,
        roles_en=ROLE_TITLES_EN,
    )


# -- reading an upload in memory ------------------------------------------------------------------


def _check_pdf(data: bytes) -> None:
    if not data:
        raise _BadUpload(422, NO_FILE)
    if data.lstrip()[:5] != b"%PDF-":
        raise _BadUpload(415, NOT_PDF)


async def _body(request: Request, limit: int) -> bytes:
    """The request's body, at most `limit` bytes, in memory (never spooled to a file)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _BadUpload(413, _too_large(limit))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BadUpload(413, _too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


async def _form(request: Request) -> dict[str, bytes]:
    """A multipart form's fields, in memory: Starlette's own parser spools files to disk."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise _BadUpload(422, NO_FILE)
    body = await _body(request, _limit(request))
    fields: dict[str, bytes] = {}
    part: dict[str, Any] = {}

    def begin() -> None:
        part.clear()
        part.update(name=None, data=[], field=b"", value=b"", headers={})

    def header_field(data: bytes, start: int, end: int) -> None:
        part["field"] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        part["value"] += data[start:end]

    def header_end() -> None:
        part["headers"][part["field"].lower()] = part["value"]
        part["field"], part["value"] = b"", b""

    def headers_done() -> None:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name")
        part["name"] = name.decode("utf-8", "replace") if name else None

    def data(chunk: bytes, start: int, end: int) -> None:
        part["data"].append(chunk[start:end])

    def end() -> None:
        if part.get("name") and part["name"] not in fields:
            fields[part["name"]] = b"".join(part["data"])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": begin,
            "on_header_field": header_field,
            "on_header_value": header_value,
            "on_header_end": header_end,
            "on_headers_finished": headers_done,
            "on_part_data": data,
            "on_part_end": end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Exception:  # python-multipart raises several kinds on a malformed body
        raise _BadUpload(422, NO_FILE) from None
    return fields
