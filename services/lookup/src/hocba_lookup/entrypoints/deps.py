"""The lookup's objects as FastAPI dependencies (the composition root puts them on `app.state`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from hocba_runtime.web import Csrf

from hocba_lookup.application.ports import PdfSource
from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.application.verification import VerificationService
from hocba_lookup.domain.model import PdfTickets


def _service(request: Request) -> LookupService:
    return request.app.state.lookup  # type: ignore[no-any-return]


def _verification(request: Request) -> VerificationService:
    return request.app.state.verification  # type: ignore[no-any-return]


def _pdfs(request: Request) -> PdfSource:
    return request.app.state.pdfs  # type: ignore[no-any-return]


def _tickets(request: Request) -> PdfTickets:
    return request.app.state.tickets  # type: ignore[no-any-return]


def _csrf(request: Request) -> Csrf:
    return request.app.state.csrf  # type: ignore[no-any-return]


Service = Annotated[LookupService, Depends(_service)]
Verifications = Annotated[VerificationService, Depends(_verification)]
Pdfs = Annotated[PdfSource, Depends(_pdfs)]
Tickets = Annotated[PdfTickets, Depends(_tickets)]
Forms = Annotated[Csrf, Depends(_csrf)]
