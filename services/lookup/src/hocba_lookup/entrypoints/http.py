"""Lookup's HTTP API (JSON, for schools and apps) and the parent portal (HTML, Vietnamese).

Personal data (personal ID number, date of birth) travel only in request bodies, never in URLs,
and are never logged.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from hocba_contracts.payloads.common import CitizenId, Code
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field

from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.domain.model import ROLE_TITLES, PublishedEntry, UnknownDocument, Verification

router = APIRouter()
templates = Environment(loader=PackageLoader("hocba_lookup", "templates"), autoescape=select_autoescape(["html"]))


def _service(request: Request) -> LookupService:
    return request.app.state.lookup  # type: ignore[no-any-return]


Service = Annotated[LookupService, Depends(_service)]


class LookupIn(BaseModel):
    citizen_id: CitizenId
    date_of_birth: date = Field(description="YYYY-MM-DD")


class DocumentSummary(BaseModel):
    document_id: str
    status: str = Field(description="published, or superseded by a newer version")
    superseded_by: str | None
    school_year: str
    school_name: str
    class_name: str
    grade: int
    student_name: str
    result: str
    published_at: datetime
    verification_url: str
    pdf_url: str


class LookupOut(BaseModel):
    documents: list[DocumentSummary]


class SignatureCheckOut(BaseModel):
    role: str
    signer_name: str
    signed_at: str
    valid: bool
    reason: str | None
    message_vi: str | None
    message_en: str | None


class VerificationOut(BaseModel):
    valid: bool
    content_intact: bool
    signatures: list[SignatureCheckOut]


class DocumentOut(DocumentSummary):
    record_id: str
    record_version: int
    content_sha256: str
    pdf_sha256: str
    subjects: list[dict[str, Any]]
    verification: VerificationOut


def _urls(request: Request, entry: PublishedEntry) -> tuple[str, str]:
    settings = request.app.state.runtime.settings
    return (f"{settings.base_url.rstrip('/')}/verify/{entry.document_id}",
            f"{settings.publishing_public_url.rstrip('/')}{entry.pdf_path}")


def _summary(request: Request, e: PublishedEntry) -> dict[str, Any]:
    d = e.document
    verify_url, pdf_url = _urls(request, e)
    return dict(document_id=e.document_id, status=e.status, superseded_by=e.superseded_by, school_year=e.school_year,
                school_name=d["school"]["name"], class_name=d["class_info"]["name"], grade=d["class_info"]["grade"],
                student_name=d["student"]["full_name"], result=d["result"]["level_label"], published_at=e.published_at,
                verification_url=verify_url, pdf_url=pdf_url)


def _verification(v: Verification) -> VerificationOut:
    return VerificationOut(valid=v.valid, content_intact=v.content_intact,
                           signatures=[SignatureCheckOut(**vars(s)) for s in v.signatures])


@router.post("/api/lookup", response_model=LookupOut, tags=["lookup"],
             summary="Find a student's published records by personal ID number and date of birth")
async def api_lookup(body: LookupIn, request: Request, service: Service) -> LookupOut:
    entries = await service.find(body.citizen_id, body.date_of_birth)
    return LookupOut(documents=[DocumentSummary(**_summary(request, e)) for e in entries])


@router.get("/api/documents/{document_id}", response_model=DocumentOut, tags=["lookup"],
            summary="A published record, verified now")
async def api_document(document_id: Code, request: Request, service: Service) -> DocumentOut:
    entry, verification = await service.document(document_id)
    return DocumentOut(**_summary(request, entry), record_id=entry.record_id, record_version=entry.record_version,
                       content_sha256=entry.content_sha256, pdf_sha256=entry.pdf_sha256,
                       subjects=list(entry.document.get("subjects", [])), verification=_verification(verification))


# -- the parent portal ------------------------------------------------------------------------
def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**context), status_code=status)


def _vn_date(value: str) -> str:
    return date.fromisoformat(value).strftime("%d/%m/%Y")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def portal() -> HTMLResponse:
    return _page("index.html", errors=[], citizen_id="", date_of_birth="")


@router.post("/tra-cuu", response_class=HTMLResponse, include_in_schema=False)
async def portal_lookup(request: Request, service: Service, citizen_id: Annotated[str, Form()] = "",
                        date_of_birth: Annotated[str, Form()] = "") -> HTMLResponse:
    errors = []
    cid = re.sub(r"\s", "", citizen_id)
    if not re.fullmatch(r"\d{12}", cid):
        errors.append("Số định danh cá nhân gồm đúng 12 chữ số (in trên căn cước hoặc giấy khai sinh).")
    born = None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            born = datetime.strptime(date_of_birth.strip(), fmt).date()
            break
        except ValueError:
            continue
    if born is None:
        errors.append("Ngày sinh viết theo dạng ngày/tháng/năm, ví dụ 14/03/2018.")
    if errors or born is None:
        return _page("index.html", status=422, errors=errors, citizen_id=cid, date_of_birth=date_of_birth)
    entries = await service.find(cid, born)
    return _page("results.html", documents=[_summary(request, e) for e in entries])


@router.get("/verify/{document_id}", response_class=HTMLResponse, include_in_schema=False)
async def portal_verify(document_id: Code, request: Request, service: Service) -> HTMLResponse:
    try:
        entry, verification = await service.document(document_id)
    except UnknownDocument:
        return _page("verify.html", status=404, found=False, document_id=document_id)
    d = entry.document
    summary = _summary(request, entry)
    return _page("verify.html", found=True, e=summary, d=d, v=verification, roles=ROLE_TITLES,
                 born=_vn_date(d["student"]["date_of_birth"]))
