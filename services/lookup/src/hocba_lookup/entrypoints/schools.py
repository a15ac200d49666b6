"""What the school does for parents' access (bearer token; `policies.POLICIES`):

- `POST /api/students/{student_id}/access-code`: the school administrator of the student's school
  issues (or re-issues, voiding the old code and ending the student's sessions) an access code for
  a student with a published record;
- `POST /api/schools/{school_id}/access-codes`: the same for every student of a class and school
  year with a published record (one notice per parent);
- with `?format=notice` either answers a printable HTML page (Vietnamese, one notice a page: the
  student's name, class, school, the portal's address and the code; never the personal ID number)
  instead of JSON. The code exists only in that answer: it is stored as a hash;
- `DELETE /api/students/{student_id}/lockout`: the school administrator lifts a lockout;
- `GET /api/students/{student_id}/issued-copies`: the electronic copies parents downloaded (who,
  when, which versions), for the school administrator and principal of the school, and the auditor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from hocba_contracts.payloads.common import Code
from hocba_runtime.auth import Access, Resource, current_access
from pydantic import BaseModel, Field

from hocba_lookup.application.access import Issued, school_of
from hocba_lookup.domain.model import PublishedEntry
from hocba_lookup.entrypoints.deps import Parents, Service
from hocba_lookup.entrypoints.pages import page

router = APIRouter(tags=["access codes"])

Format = Annotated[
    Literal["json", "notice"],
    Query(description="json (default), or notice: a printable HTML page, one notice per student"),
]


class IssuedOut(BaseModel):
    student_id: str
    student_name: str
    class_name: str
    school_year: str
    access_code: str = Field(description="Shown only here and on the notice: stored as a hash")
    issued_at: datetime
    sessions_ended: int = Field(description="The student's sessions the new code ended")


class IssuedListOut(BaseModel):
    codes: list[IssuedOut]


class ClassIn(BaseModel):
    school_year: str = Field(pattern=r"^\d{4}-\d{4}$", description="e.g. 2024-2025")
    class_name: str = Field(min_length=1, max_length=40, description="As on the record, e.g. 5B")


def _resource(entries: list[PublishedEntry]) -> Resource | None:
    if not entries:
        return None
    return Resource(school_id=school_of(entries[0]), student_ids=(entries[0].student_id,))


def _out(i: Issued) -> IssuedOut:
    d = i.entry.document
    return IssuedOut(
        student_id=i.student_id,
        student_name=d["student"]["full_name"],
        class_name=d["class_info"]["name"],
        school_year=i.entry.school_year,
        access_code=i.code,
        issued_at=i.issued_at,
        sessions_ended=i.sessions_ended,
    )


def _answer(request: Request, issued: list[Issued], fmt: str) -> Response:
    if fmt == "notice":
        base = request.app.state.runtime.settings.base_url.rstrip("/")
        notices = [
            {"out": _out(i), "school_name": i.entry.document["school"]["name"]} for i in issued
        ]
        response: Response = page(
            request, "notice.html", here="/", notices=notices, portal_url=f"{base}/"
        )
        return response
    return Response(
        IssuedListOut(codes=[_out(i) for i in issued]).model_dump_json(),
        media_type="application/json",
    )


NOT_PUBLISHED = "no published record of this student: a code is issued once a record is published"


async def _student(access: Access, service: Parents, student_id: str) -> list[PublishedEntry]:
    entries = await service.student(student_id)
    access.require(_resource(entries), missing=NOT_PUBLISHED)
    return entries


@router.post(
    "/api/students/{student_id}/access-code",
    response_model=IssuedListOut,
    summary="Issue (or re-issue) a student's access code; the old one stops working",
    responses={200: {"content": {"text/html": {}}}},
)
async def issue_code(
    student_id: Code,
    request: Request,
    parents: Parents,
    format: Format = "json",  # noqa: A002
) -> Response:
    access = current_access(request)
    entries = await _student(access, parents, student_id)
    issued = await parents.issue(entries, access.principal.actor)
    return _answer(request, [issued], format)


@router.post(
    "/api/schools/{school_id}/access-codes",
    response_model=IssuedListOut,
    summary="Issue (or re-issue) the access codes of every student of a class and school year",
    responses={200: {"content": {"text/html": {}}}},
)
async def issue_class_codes(
    school_id: Code,
    body: ClassIn,
    request: Request,
    parents: Parents,
    service: Service,
    format: Format = "json",  # noqa: A002
) -> Response:
    access = current_access(request)
    access.require(Resource(school_id=school_id))
    students = await service.reader.students_of_class(school_id, body.school_year, body.class_name)
    issued = []
    for student_id in students:
        entries = await _student(access, parents, student_id)
        issued.append(await parents.issue(entries, access.principal.actor))
    return _answer(request, issued, format)


class LiftedOut(BaseModel):
    lifted: bool = Field(description="False when there was no failure or lockout to lift")


@router.delete(
    "/api/students/{student_id}/lockout",
    response_model=LiftedOut,
    summary="Lift the lockout of a student's sign-in (and forget its failed attempts)",
)
async def lift_lockout(student_id: Code, request: Request, parents: Parents) -> LiftedOut:
    entries = await _student(current_access(request), parents, student_id)
    return LiftedOut(lifted=await parents.lift_lockout(entries))


class IssuedDocumentOut(BaseModel):
    document_id: str
    record_version: int
    school_year: str


class IssuedCopyOut(BaseModel):
    copy_id: str
    kind: Literal["year", "book"]
    level: str | None
    documents: list[IssuedDocumentOut]
    issued_at: datetime
    sign_in_id: str = Field(description="The parent's sign-in session that downloaded it")


class IssuedCopiesOut(BaseModel):
    copies: list[IssuedCopyOut] = Field(description="Newest first")


@router.get(
    "/api/students/{student_id}/issued-copies",
    response_model=IssuedCopiesOut,
    summary="The electronic copies of a student's records issued to parents: which versions, "
    "when, by which sign-in",
)
async def issued_copies(student_id: Code, request: Request, parents: Parents) -> IssuedCopiesOut:
    await _student(current_access(request), parents, student_id)
    copies = await parents.copies(student_id)
    return IssuedCopiesOut(
        copies=[
            IssuedCopyOut(
                copy_id=c.copy_id,
                kind=c.kind,
                level=c.level,
                documents=[IssuedDocumentOut(**vars(d)) for d in c.documents],
                issued_at=c.issued_at or datetime.min,
                sign_in_id=c.sign_in_id,
            )
            for c in copies
        ]
    )
