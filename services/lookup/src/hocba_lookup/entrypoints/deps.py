"""The lookup's objects as FastAPI dependencies (the composition root puts them on `app.state`).
Coroutines, though they do no I/O: FastAPI runs a plain function dependency in its thread pool, a
thread hop for every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from hocba_runtime.web import Csrf

from hocba_lookup.application.access import AccessService
from hocba_lookup.application.ports import PdfSource
from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.application.verification import VerificationService


async def _service(request: Request) -> LookupService:
    return request.app.state.lookup  # type: ignore[no-any-return]


async def _verification(request: Request) -> VerificationService:
    return request.app.state.verification  # type: ignore[no-any-return]


async def _pdfs(request: Request) -> PdfSource:
    return request.app.state.pdfs  # type: ignore[no-any-return]


async def _csrf(request: Request) -> Csrf:
    return request.app.state.csrf  # type: ignore[no-any-return]


Service = Annotated[LookupService, Depends(_service)]
Verifications = Annotated[VerificationService, Depends(_verification)]
Pdfs = Annotated[PdfSource, Depends(_pdfs)]
Forms = Annotated[Csrf, Depends(_csrf)]


def _access(request: Request) -> AccessService:
    return request.app.state.access  # type: ignore[no-any-return]


Parents = Annotated[AccessService, Depends(_access)]
