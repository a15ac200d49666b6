"""The public verification of a published record: the JSON answer for other systems
(`GET /api/documents/{id}`) and the verification page (`/verify/{id}`, where the QR code printed on
every page of the record leads). A verifier sees what matches the paper to the person, never the
personal ID number, the date of birth, the place of birth or the parents, and no PDF.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from hocba_contracts.payloads.common import Code

from hocba_lookup.domain.model import ROLE_TITLES, UnknownDocument
from hocba_lookup.entrypoints.deps import Service
from hocba_lookup.entrypoints.pages import page
from hocba_lookup.entrypoints.views import DocumentOut, document_out

router = APIRouter()


@router.get(
    "/api/documents/{document_id}",
    response_model=DocumentOut,
    tags=["lookup"],
    summary="A published record, verified now (what a verifier needs; nothing personal)",
)
async def apidocument_out(document_id: Code, request: Request, service: Service) -> DocumentOut:
    entry, verification = await service.document(document_id)
    return document_out(request, entry, verification, await service.superseded_reasons([entry]))


@router.get("/verify/{document_id}", response_class=HTMLResponse, include_in_schema=False)
async def portal_verify(document_id: Code, request: Request, service: Service) -> HTMLResponse:
    try:
        entry, verification = await service.document(document_id)
    except UnknownDocument:
        return page(request, "verify.html", status=404, found=False, document_id=document_id)
    return page(
        request,
        "verify.html",
        found=True,
        r=document_out(request, entry, verification, await service.superseded_reasons([entry])),
        roles=ROLE_TITLES,
    )
