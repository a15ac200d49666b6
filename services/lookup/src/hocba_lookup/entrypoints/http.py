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
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from hocba_contracts.payloads.common import CitizenId
from hocba_runtime.web import Csrf
from pydantic import BaseModel, Field

from hocba_lookup.domain.model import PdfTickets, PdfUnavailable, PublishedEntry
from hocba_lookup.entrypoints.deps import Forms, Pdfs, Service, Tickets
from hocba_lookup.entrypoints.pages import page
from hocba_lookup.entrypoints.views import RecordSummary, summary

router = APIRouter()


class LookupIn(BaseModel):
    citizen_id: CitizenId
    date_of_birth: date = Field(description="YYYY-MM-DD")


class LookupResult(RecordSummary):
    pdf_url: str = Field(
        description="The official PDF, on this service; the link works for 15 minutes"
    )


class LookupOut(BaseModel):
    documents: list[LookupResult]


def found(
    request: Request, tickets: PdfTickets, e: PublishedEntry, reasons: dict[str, str]
) -> LookupResult:
    base = request.app.state.runtime.settings.base_url.rstrip("/")
    return LookupResult(
        **summary(request, e, reasons.get(e.document_id)).model_dump(),
        pdf_url=f"{base}/pdf/{tickets.issue(e.document_id)}",
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
    return LookupOut(documents=[found(request, tickets, e, reasons) for e in entries])


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
        return page(
            request,
            "message.html",
            here="/",
            status=503,
            title=PDF_LATER[0],
            text=PDF_LATER[1],
            headers={"retry-after": "30"},
        )
    if document_id is None or content is None:
        return page(
            request, "message.html", here="/", status=404, title=PDF_GONE[0], text=PDF_GONE[1]
        )
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Cache-Control": "no-store",
            "Content-Disposition": f'inline; filename="{document_id}.pdf"',
        },
    )


# -- the parent portal ------------------------------------------------------------------------
def _form(
    request: Request, csrf: Csrf, status: int = 200, errors: list[str] | None = None
) -> HTMLResponse:
    """The lookup form, always empty: what a parent typed is never written back into a page."""
    cookies: dict[str, str] = {}
    token = csrf.token(request, cookies)
    return page(
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
        return page(
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
    return page(
        request, "results.html", documents=[found(request, tickets, e, reasons) for e in entries]
    )
