"""Lookup's HTTP API (JSON, for schools and apps) and the parent portal (HTML, Vietnamese). All of
it is public (`policies.POLICIES`), so every answer is minimized:

- a verifier (the verification page and `GET /api/documents/{id}`) sees what matches the paper to
  the person: name, school, class, school year, results, signers, status; never the personal ID
  number, the date of birth, the place of birth or the parents, and no PDF (the PDF carries them);
- a parent who proved they know the personal ID number and the date of birth (the lookup) gets the
  same summary and a PDF ticket valid for 15 minutes.

The response models below carry no personal field at all, and the pages are rendered from them, not
from the stored record. Personal data (personal ID number, date of birth) travel only in request
bodies, never in URLs, are never logged and never echoed back into a page.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from hocba_contracts.payloads.common import CitizenId, Code
from hocba_runtime.auth import Resource, current_access
from hocba_runtime.web import Csrf, csp_nonce
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field

from hocba_lookup.application.ports import PdfSource
from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.domain.model import (
    ROLE_TITLES,
    PdfTickets,
    PdfUnavailable,
    PublishedEntry,
    Revocation,
    UnknownDocument,
    Verification,
)

router = APIRouter()
templates = Environment(
    loader=PackageLoader("hocba_lookup", "templates"), autoescape=select_autoescape(["html"])
)


def _service(request: Request) -> LookupService:
    return request.app.state.lookup  # type: ignore[no-any-return]


def _pdfs(request: Request) -> PdfSource:
    return request.app.state.pdfs  # type: ignore[no-any-return]


def _tickets(request: Request) -> PdfTickets:
    return request.app.state.tickets  # type: ignore[no-any-return]


def _csrf(request: Request) -> Csrf:
    return request.app.state.csrf  # type: ignore[no-any-return]


Service = Annotated[LookupService, Depends(_service)]
Pdfs = Annotated[PdfSource, Depends(_pdfs)]
Tickets = Annotated[PdfTickets, Depends(_tickets)]
Forms = Annotated[Csrf, Depends(_csrf)]


class LookupIn(BaseModel):
    citizen_id: CitizenId
    date_of_birth: date = Field(description="YYYY-MM-DD")


VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")


class RevocationOut(BaseModel):
    """The school revoked the record (thu hồi): it has no value any more."""

    reason: str = Field(description="Why, as the school gave it (lý do thu hồi)")
    revoked_at: datetime
    revoked_on: str = Field(
        description="The time of the revocation as the page shows it, in Vietnam's time"
    )


class RecordSummary(BaseModel):
    """What identifies a published record to a verifier; nothing personal beyond the name."""

    document_id: str
    status: Literal["published", "superseded", "revoked"] = Field(
        description="published; superseded by a newer version (superseded_by); or revoked by the "
        "school (revocation: why and when), which no longer verifies as valid"
    )
    superseded_by: str | None
    superseded_reason: str | None = Field(
        default=None, description="Why the newer version was made (its correction's reason)"
    )
    correction_reason: str | None = Field(
        default=None, description="Why this version corrects an earlier one; null for the first"
    )
    revocation: RevocationOut | None
    school_year: str
    school_name: str
    class_name: str
    grade: int
    student_name: str
    result: str
    published_at: datetime
    verification_url: str


class LookupResult(RecordSummary):
    pdf_url: str = Field(
        description="The official PDF, on this service; the link works for 15 minutes"
    )


class LookupOut(BaseModel):
    documents: list[LookupResult]


class SubjectOut(BaseModel):
    """A subject's year results as the record prints them."""

    subject_code: str
    subject_name: str
    rating_label: str | None = None
    score: float | None = None
    term1_average: float | None = None
    term2_average: float | None = None
    year_average: float | None = None
    passed: bool | None = None
    result_label: str | None = None
    comment: str = ""


class SignatureCheckOut(BaseModel):
    role: str
    signer_name: str
    signed_at: str
    valid: bool
    reason: str | None
    message_vi: str | None
    message_en: str | None


class VerificationOut(BaseModel):
    valid: bool = Field(
        description="Intact, signed by every signer with a valid certificate, and not revoked"
    )
    content_intact: bool
    revoked: bool = Field(description="The school revoked the document: it is not valid")
    signatures: list[SignatureCheckOut]


class DocumentOut(RecordSummary):
    record_version: int
    content_sha256: str = Field(
        description="As printed on the record: the hash of its signed content"
    )
    pdf_sha256: str | None = Field(
        description="The PDF's SHA-256 when it was announced with the publication; publications "
        "since do not wait for their PDF, so it is null"
    )
    subjects: list[SubjectOut]
    verification: VerificationOut


def _revocation(r: Revocation) -> RevocationOut:
    local = r.revoked_at.astimezone(VIETNAM_TIME)
    return RevocationOut(
        reason=r.reason,
        revoked_at=r.revoked_at,
        revoked_on=f"{local:%H:%M} ngày {local:%d/%m/%Y}",
    )


def _summary(
    request: Request, e: PublishedEntry, superseded_reason: str | None = None
) -> RecordSummary:
    """What every public answer says of a record; the audit trail notes whose record it showed."""
    d = e.document
    current_access(request).touched(
        Resource(
            school_id=str(d.get("school", {}).get("school_id") or "") or None,
            student_ids=(e.student_id,),
            record_id=e.record_id,
        )
    )
    base = request.app.state.runtime.settings.base_url.rstrip("/")
    return RecordSummary(
        document_id=e.document_id,
        status=e.status,
        superseded_by=e.superseded_by,
        superseded_reason=superseded_reason,
        correction_reason=e.correction_reason,
        revocation=None if e.revocation is None else _revocation(e.revocation),
        school_year=e.school_year,
        school_name=d["school"]["name"],
        class_name=d["class_info"]["name"],
        grade=d["class_info"]["grade"],
        student_name=d["student"]["full_name"],
        result=d["result"]["level_label"],
        published_at=e.published_at,
        verification_url=f"{base}/verify/{e.document_id}",
    )


def _found(
    request: Request, tickets: PdfTickets, e: PublishedEntry, reasons: dict[str, str]
) -> LookupResult:
    base = request.app.state.runtime.settings.base_url.rstrip("/")
    return LookupResult(
        **_summary(request, e, reasons.get(e.document_id)).model_dump(),
        pdf_url=f"{base}/pdf/{tickets.issue(e.document_id)}",
    )


def _document(
    request: Request, e: PublishedEntry, v: Verification, reasons: dict[str, str]
) -> DocumentOut:
    return DocumentOut(
        **_summary(request, e, reasons.get(e.document_id)).model_dump(),
        record_version=e.record_version,
        content_sha256=e.content_sha256,
        pdf_sha256=e.pdf_sha256,
        subjects=[SubjectOut.model_validate(s) for s in e.document.get("subjects", [])],
        verification=VerificationOut(
            valid=v.valid,
            content_intact=v.content_intact,
            revoked=v.revoked,
            signatures=[SignatureCheckOut(**vars(s)) for s in v.signatures],
        ),
    )


@router.post(
    "/api/lookup",
    response_model=LookupOut,
    tags=["lookup"],
    summary="Find a student's published records by personal ID number and date of birth",
)
async def api_lookup(
    body: LookupIn, request: Request, service: Service, tickets: Tickets
) -> LookupOut:
    entries = await service.find(body.citizen_id, body.date_of_birth)
    reasons = await service.superseded_reasons(entries)
    return LookupOut(documents=[_found(request, tickets, e, reasons) for e in entries])


@router.get(
    "/api/documents/{document_id}",
    response_model=DocumentOut,
    tags=["lookup"],
    summary="A published record, verified now (what a verifier needs; nothing personal)",
)
async def api_document(document_id: Code, request: Request, service: Service) -> DocumentOut:
    entry, verification = await service.document(document_id)
    return _document(request, entry, verification, await service.superseded_reasons([entry]))


PDF_GONE = (
    "Liên kết không còn dùng được",
    "Liên kết tải học bạ chỉ dùng được trong 15 phút sau khi tra cứu. Hãy tra cứu lại để nhận liên kết mới.",
)
PDF_LATER = (
    "Tạm thời chưa tải được học bạ",
    "Hệ thống chưa lấy được tệp PDF của học bạ. Hãy thử lại sau ít phút.",
)


@router.get(
    "/pdf/{ticket}",
    tags=["lookup"],
    response_class=Response,
    summary="The official PDF of a record found by a lookup, by the ticket in its pdf_url",
    responses={
        200: {"content": {"application/pdf": {}}},
        404: {
            "description": "The ticket is not valid or has expired",
            "content": {"text/html": {}},
        },
        503: {
            "description": "Publishing cannot hand the PDF over now",
            "content": {"text/html": {}},
        },
    },
)
async def pdf(ticket: str, request: Request, tickets: Tickets, pdfs: Pdfs) -> Response:
    document_id = tickets.document_id(ticket)
    try:
        content = await pdfs.pdf(document_id) if document_id else None
    except PdfUnavailable:
        return _page(
            request,
            "message.html",
            status=503,
            title=PDF_LATER[0],
            text=PDF_LATER[1],
            headers={"retry-after": "30"},
        )
    if document_id is None or content is None:
        return _page(request, "message.html", status=404, title=PDF_GONE[0], text=PDF_GONE[1])
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{document_id}.pdf"',
        },
    )


# -- the parent portal ------------------------------------------------------------------------
def _page(
    request: Request,
    name: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    csrf: Csrf | None = None,
    **context: Any,
) -> HTMLResponse:
    response = HTMLResponse(
        templates.get_template(name).render(nonce=csp_nonce(request), **context),
        status_code=status,
        headers=headers,
    )
    if csrf is not None and cookies:
        csrf.set_cookies(response, cookies)
    return response


def _form(
    request: Request, csrf: Csrf, status: int = 200, errors: list[str] | None = None
) -> HTMLResponse:
    """The lookup form, always empty: what a parent typed is never written back into a page."""
    cookies: dict[str, str] = {}
    token = csrf.token(request, cookies)
    return _page(
        request,
        "index.html",
        status=status,
        cookies=cookies,
        csrf=csrf,
        errors=errors or [],
        csrf_field=csrf.field,
        csrf_token=token,
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def portal(request: Request, csrf: Forms) -> HTMLResponse:
    return _form(request, csrf)


@router.post("/tra-cuu", response_class=HTMLResponse, include_in_schema=False)
async def portal_lookup(
    request: Request,
    service: Service,
    tickets: Tickets,
    csrf: Forms,
    citizen_id: Annotated[str, Form()] = "",
    date_of_birth: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    if not csrf.valid(request, csrf_token):
        return _page(
            request,
            "message.html",
            status=403,
            title="Biểu mẫu đã hết hạn",
            text="Biểu mẫu tra cứu này không còn hiệu lực. Hãy tải lại trang tra cứu rồi nhập lại số định "
            "danh cá nhân và ngày sinh.",
            link_text="Tải lại trang tra cứu",
        )
    errors = []
    cid = re.sub(r"\s", "", citizen_id)
    if not re.fullmatch(r"\d{12}", cid):
        errors.append(
            "Số định danh cá nhân gồm đúng 12 chữ số (in trên căn cước hoặc giấy khai sinh)."
        )
    born = None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            born = datetime.strptime(date_of_birth.strip(), fmt).date()
            break
        except ValueError:
            continue
    if born is None:
        errors.append("Ngày sinh viết theo dạng ngày/tháng/năm (dd/mm/yyyy), năm đủ 4 chữ số.")
    if errors or born is None:
        return _form(request, csrf, status=422, errors=errors)
    entries = await service.find(cid, born)
    reasons = await service.superseded_reasons(entries)
    return _page(
        request, "results.html", documents=[_found(request, tickets, e, reasons) for e in entries]
    )


@router.get("/verify/{document_id}", response_class=HTMLResponse, include_in_schema=False)
async def portal_verify(document_id: Code, request: Request, service: Service) -> HTMLResponse:
    try:
        entry, verification = await service.document(document_id)
    except UnknownDocument:
        return _page(request, "verify.html", status=404, found=False, document_id=document_id)
    return _page(
        request,
        "verify.html",
        found=True,
        r=_document(request, entry, verification, await service.superseded_reasons([entry])),
        roles=ROLE_TITLES,
    )
