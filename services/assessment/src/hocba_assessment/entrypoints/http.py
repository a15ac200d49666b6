"""Assessment's HTTP API: a class's gradebook as one batch, closing the year, the closed records.

Who may call what is in `policies.POLICIES`. Each handler resolves the class its request touches
from the class profiles (school, homeroom teacher, subject teachers), and the teachers who may act
on it: the homeroom teacher and a subject's teachers for that subject's marks, the homeroom teacher
alone for conduct, qualities, attendance, the close and the summer re-assessment, any teacher of the
class for what it reads. An action is recorded under the caller's own id (`access.acting_as`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from hocba_contracts.payloads.assessment import (
    AttendanceReported,
    ConductAssessed,
    QualitiesAssessed,
    SecondaryAssessmentSubmitted,
    SubjectAssessmentSubmitted,
)
from hocba_contracts.payloads.common import ClassProfile, Code, SchoolYear
from hocba_runtime.auth import Access, Resource, current_access
from hocba_runtime.errors import DomainError, NotFound
from hocba_runtime.web import csp_nonce
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field, ValidationError, model_validator

from hocba_assessment.application import reports
from hocba_assessment.application.gradebook import ParsedItem, UnreadableGradebook
from hocba_assessment.application.ports import AssessmentReader, GradebookCodec
from hocba_assessment.application.use_cases import AssessmentService
from hocba_assessment.domain.model import IncompleteAssessments

router = APIRouter(tags=["assessment"])


def _service(request: Request) -> AssessmentService:
    return request.app.state.assessment  # type: ignore[no-any-return]


def _reader(request: Request) -> AssessmentReader:
    return request.app.state.reader  # type: ignore[no-any-return]


def _gradebook(request: Request) -> GradebookCodec:
    return request.app.state.gradebook  # type: ignore[no-any-return]


Service = Annotated[AssessmentService, Depends(_service)]
Reader = Annotated[AssessmentReader, Depends(_reader)]
Gradebook = Annotated[GradebookCodec, Depends(_gradebook)]
Caller = Annotated[Access, Depends(current_access)]

UNKNOWN_CLASS = (
    "no such class: check the class id; assessment knows a class once records has registered it "
    "(POST /classes on records, or class_registration_submitted)"
)
SUBJECT_ITEMS = (SubjectAssessmentSubmitted, SecondaryAssessmentSubmitted)


def _homeroom(profile: ClassProfile) -> frozenset[str]:
    return frozenset({profile.homeroom_teacher.staff_id})


def _assessors(item: Any, profile: ClassProfile) -> frozenset[str]:
    """Who may assess an item: a subject's teachers and the homeroom teacher; conduct, qualities and
    attendance the homeroom teacher alone."""
    return (
        profile.teachers(item.subject_code)
        if isinstance(item, SUBJECT_ITEMS)
        else _homeroom(profile)
    )


async def _class(
    access: Access,
    reader: AssessmentReader,
    class_id: str,
    *,
    homeroom_only: bool = False,
    student_id: str | None = None,
) -> ClassProfile:
    """The class's profile, if the caller's scope covers the class (404 unknown, 403 outside it).
    Teachers: any teacher of the class, or its homeroom teacher alone."""
    profile = (await reader.class_profiles({class_id})).get(class_id)
    access.require(
        Resource(
            school_id=profile.school_id,
            class_id=class_id,
            student_ids=(student_id,) if student_id else (),
            teachers=_homeroom(profile) if homeroom_only else profile.teachers(),
        )
        if profile
        else None,
        missing=UNKNOWN_CLASS,
    )
    assert profile is not None
    return profile


async def _may_assess(access: Access, reader: AssessmentReader, items: list[Any]) -> list[Any]:
    """The items, each under the id of whoever assessed it (`acting_as`), if the caller may assess
    every one of them (403 otherwise). Items of classes assessment does not know yet are left to the
    per-item checks, which refuse them as not enrolled."""
    profiles = await reader.class_profiles({item.class_id for item in items})
    touched: dict[tuple[str, frozenset[str]], dict[str, None]] = {}
    for item in items:
        profile = profiles.get(item.class_id)
        if profile is not None:
            touched.setdefault((item.class_id, _assessors(item, profile)), {})[item.student_id] = (
                None
            )
    access.require_all(
        Resource(
            school_id=profiles[class_id].school_id,
            class_id=class_id,
            student_ids=tuple(students),
            teachers=teachers,
        )
        for (class_id, teachers), students in touched.items()
    )
    return [
        item.model_copy(update={"submitted_by": access.acting_as(item.submitted_by)})
        for item in items
    ]


class Batch(BaseModel):
    """A gradebook: any of the lists, for one or several classes. Primary classes (grades 1-5) send
    `items` and `qualities`; secondary classes (6-12) send `secondary` and `conduct`; both may send
    `attendance`."""

    items: list[SubjectAssessmentSubmitted] = Field(
        default=[], max_length=20_000, description="Primary subject assessments (TT27/2020)"
    )
    secondary: list[SecondaryAssessmentSubmitted] = Field(
        default=[], max_length=20_000, description="Secondary assessments (TT22/2021)"
    )
    conduct: list[ConductAssessed] = Field(default=[], max_length=5_000)
    qualities: list[QualitiesAssessed] = Field(default=[], max_length=5_000)
    attendance: list[AttendanceReported] = Field(default=[], max_length=5_000)
    reason: str = Field(
        default="", max_length=500, description="Why values change (kept in the audit trail)"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> Batch:
        if not (self.items or self.secondary or self.conduct or self.qualities or self.attendance):
            raise ValueError(
                "the batch is empty: send at least one of items, secondary, conduct, qualities, attendance"
            )
        return self

    def lists(self) -> list[tuple[str, list[Any]]]:
        return [
            ("items", self.items),
            ("secondary", self.secondary),
            ("conduct", self.conduct),
            ("qualities", self.qualities),
            ("attendance", self.attendance),
        ]


class RejectedItem(BaseModel):
    list: str = Field(default="items", description="Which list of the batch the item is in")
    index: int = Field(description="The item's position in its list, from 0")
    student_id: str
    subject_code: str
    field: str
    problem: str


class BatchOut(BaseModel):
    accepted: int = Field(description="Items stored or changed")
    unchanged: int = Field(description="Items identical to what is stored (re-sent)")
    rejected: list[RejectedItem]


class CloseIn(BaseModel):
    school_year: SchoolYear
    requested_by: Code | None = Field(
        default=None,
        description="Who closes: a member of staff closes as themself "
        "(default); a school system names the member of staff",
    )
    even_if_incomplete: bool = Field(
        default=False,
        description="Secondary: close although some students lack "
        "assessments (they get no record until an unlock)",
    )


class SummerIn(BaseModel):
    school_year: SchoolYear
    assessed_by: Code | None = Field(
        default=None,
        description="Who re-assessed: a teacher as themself (default); "
        "a school system names the teacher",
    )
    retakes: dict[Code, float | str] = Field(
        default={}, description="Retake result per subject: a score, or D / CD"
    )
    conduct: str | None = Field(
        default=None, description="Conduct re-assessed after summer training"
    )
    reason: str = Field(default="", max_length=500)


class CloseOut(BaseModel):
    class_id: str
    school_year: str
    closed: bool
    records: int = Field(description="Year records emitted by this request")


class RecordOut(BaseModel):
    record_id: str
    record_version: int
    student_id: str
    level: str | None = Field(
        default=None, description="The year's result; not shown to the city's operators"
    )
    level_label: str | None = Field(
        default=None,
        description="The result as the record book states it; not shown to the city's operators",
    )


class ClassRecordsOut(BaseModel):
    class_id: str
    school_year: str
    closed: bool
    records: list[RecordOut]


@router.post(
    "/assessments", response_model=BatchOut, summary="Submit a batch of subject assessments"
)
async def post_assessments(
    body: Batch, service: Service, reader: Reader, access: Caller
) -> BatchOut:
    """Each item is checked on its own; the valid ones are stored even when others are rejected. The
    caller must be allowed to assess every item (403 otherwise, nothing stored)."""
    origin = [(name, i) for name, items in body.lists() for i in range(len(items))]
    items = await _may_assess(access, reader, [item for _, items in body.lists() for item in items])
    result = await service.submit(items, check_enrollment=True, reason=body.reason)
    return BatchOut(
        accepted=result.accepted,
        unchanged=result.unchanged,
        rejected=[
            RejectedItem(**{**vars(r), "list": origin[r.index][0], "index": origin[r.index][1]})
            for r in result.rejected
        ],
    )


@router.post(
    "/classes/{class_id}/close", response_model=CloseOut, summary="Close a class's school year"
)
async def close_class(
    class_id: Code, body: CloseIn, service: Service, reader: Reader, access: Caller
) -> CloseOut:
    await _class(access, reader, class_id, homeroom_only=True)
    requested_by = access.acting_as(body.requested_by)
    try:
        emitted = await service.close_class(
            class_id, body.school_year, requested_by, even_if_incomplete=body.even_if_incomplete
        )
    except IncompleteAssessments as refused:
        refused.details = refused.details[
            :500
        ]  # the first 500 in the response; the audit trail has them all
        raise
    return CloseOut(class_id=class_id, school_year=body.school_year, closed=True, records=emitted)


@router.post(
    "/classes/{class_id}/students/{student_id}/summer-reassessment",
    summary="Secondary: the result of a summer retake or conduct training (after the close)",
)
async def summer_reassessment(
    class_id: Code,
    student_id: Code,
    body: SummerIn,
    service: Service,
    reader: Reader,
    access: Caller,
) -> dict[str, object]:
    await _class(access, reader, class_id, homeroom_only=True, student_id=student_id)
    emitted = await service.reassess(
        class_id,
        body.school_year,
        student_id,
        access.acting_as(body.assessed_by),
        body.retakes,
        body.conduct,
        body.reason,
    )
    return {"class_id": class_id, "student_id": student_id, "records": emitted}


@router.get(
    "/classes/{class_id}/records",
    response_model=ClassRecordsOut,
    response_model_exclude_unset=True,
    summary="A class's closed year records (the city's operators: ids and versions, without results)",
)
async def class_records(
    class_id: Code, reader: Reader, access: Caller, school_year: Annotated[SchoolYear, Query()]
) -> dict[str, object]:
    await _class(access, reader, class_id)
    records = await reader.records(class_id, school_year)
    closure = await reader.closure(class_id, school_year)
    return {
        "class_id": class_id,
        "school_year": school_year,
        "closed": closure is not None,
        "records": [
            access.visible(
                {
                    "record_id": r.record_id,
                    "record_version": r.record_version,
                    "student_id": r.student_id,
                    "level": r.level,
                    "level_label": r.level_label,
                }
            )
            for r in records
        ],
    }


class UnlockIn(BaseModel):
    school_year: SchoolYear
    approved_by: Code | None = Field(
        default=None,
        description="The school administrator who approves reopening (the caller; default)",
    )
    reason: str = Field(min_length=1, max_length=500)


class AuditOut(BaseModel):
    action: str
    by: str | None
    at: str
    key: str | None
    old: dict[str, object] | None
    new: dict[str, object] | None
    reason: str


class RowRejected(BaseModel):
    row: int
    student_id: str
    subject_code: str
    field: str
    problem: str


class GradebookOut(BaseModel):
    accepted: int
    unchanged: int
    rejected: list[RowRejected] = Field(
        description="Every refused cell, by row as the teacher sees it"
    )


Period = Annotated[str, Query(pattern="^(mid_term_1|end_term_1|mid_term_2|end_of_year)$")]


@router.post(
    "/classes/{class_id}/unlock", summary="Reopen a closed class (school administrator, logged)"
)
async def unlock(
    class_id: Code, body: UnlockIn, service: Service, reader: Reader, access: Caller
) -> dict[str, object]:
    await _class(access, reader, class_id)
    await service.unlock(
        class_id, body.school_year, access.acting_as(body.approved_by), body.reason
    )
    return {"class_id": class_id, "school_year": body.school_year, "closed": False}


@router.get(
    "/classes/{class_id}/audit",
    response_model=list[AuditOut],
    summary="Corrections, closes and unlocks",
)
async def audit(
    class_id: Code, reader: Reader, access: Caller, school_year: Annotated[SchoolYear, Query()]
) -> list[AuditOut]:
    await _class(access, reader, class_id)
    return [
        AuditOut(
            action=e.action,
            by=e.by,
            at=e.at.isoformat(),
            key=e.key,
            old=e.old,
            new=e.new,
            reason=e.reason,
        )
        for e in await reader.audit_trail(class_id, school_year)
    ]


async def _roster(
    reader: AssessmentReader, class_id: str, school_year: str
) -> tuple[int, list[tuple[str, str]], str]:
    roster = await reader.roster(class_id, school_year)
    if not roster:
        raise NotFound(
            f"class {class_id} has no students enrolled for {school_year} yet", code="empty_roster"
        )
    info = roster[0].class_info
    title = f"Sổ theo dõi chất lượng giáo dục – lớp {info.name} – năm học {school_year}"
    return info.grade, [(e.student.student_id, e.student.full_name) for e in roster], title


Term = Annotated[
    int | None, Query(ge=1, le=2, description="Secondary classes: the term the file is for")
]


def _sheet_period(grade: int, period: str, term: int | None) -> str:
    if grade <= 5:
        return period
    if term is None:
        raise DomainError(
            f"the class is in grade {grade} (secondary): give term=1 or term=2; a secondary gradebook "
            "holds one term",
            code="term_required",
        )
    return f"term_{term}"


@router.get(
    "/classes/{class_id}/gradebook-template",
    summary="The class's gradebook to fill in (XLSX or CSV)",
    response_class=Response,
)
async def gradebook_template(
    class_id: Code,
    reader: Reader,
    gradebook: Gradebook,
    access: Caller,
    school_year: Annotated[SchoolYear, Query()],
    period: Period = "end_of_year",
    term: Term = None,
    format: Annotated[str, Query(pattern="^(xlsx|csv)$")] = "xlsx",
) -> Response:
    """Primary classes: one period per file. Secondary classes: one term per file (`term`)."""
    await _class(access, reader, class_id)
    grade, students, title = await _roster(reader, class_id, school_year)
    period = _sheet_period(grade, period, term)
    if format == "csv":
        body, media = gradebook.template_csv(grade, period, students), "text/csv; charset=utf-8"
    else:
        body, media = (
            gradebook.template_xlsx(grade, period, students, title),
            gradebook.xlsx_type,
        )
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="so-theo-doi-{class_id}-{period}.{format}"'
        },
    )


def _sheet_item(
    item: ParsedItem,
    class_id: str,
    school_year: str,
    period: str,
    term: int | None,
    submitted_by: str,
) -> Any:
    common = {
        "class_id": class_id,
        "school_year": school_year,
        "student_id": item.student_id,
        "submitted_by": submitted_by,
    }
    if item.kind is None:
        return SubjectAssessmentSubmitted(
            **common,
            subject_code=item.subject_code,
            period=period,
            rating=item.rating,
            score=item.score,
            comment=item.comment,
        )
    if item.kind == "conduct":
        return ConductAssessed(**common, term=term, level=item.rating)
    return SecondaryAssessmentSubmitted(
        **common,
        subject_code=item.subject_code,
        term=term,
        kind=item.kind,
        index=item.index,
        score=item.score,
        rating=item.rating,
        comment=item.comment,
    )


@router.post(
    "/classes/{class_id}/gradebook",
    response_model=GradebookOut,
    summary="Upload a filled gradebook (XLSX or CSV): good rows are stored, bad cells reported",
)
async def upload_gradebook(
    class_id: Code,
    service: Service,
    reader: Reader,
    gradebook: Gradebook,
    access: Caller,
    school_year: Annotated[SchoolYear, Query()],
    file: Annotated[UploadFile, File()],
    submitted_by: Annotated[
        Code | None,
        Query(
            description="Who assessed: a teacher as "
            "themself (default); a school system names "
            "the teacher"
        ),
    ] = None,
    period: Period = "end_of_year",
    term: Term = None,
) -> GradebookOut:
    """Each cell is checked on its own. The caller must be allowed to assess every filled cell (a
    subject teacher fills their subject's columns; 403 otherwise, nothing stored)."""
    await _class(access, reader, class_id)
    submitted_by = access.acting_as(submitted_by)
    grade, _, _ = await _roster(reader, class_id, school_year)
    period = _sheet_period(grade, period, term)
    content = await file.read(5_000_001)
    if len(content) > 5_000_000:
        raise DomainError(
            "the file is larger than 5 MB; send one class at a time", code="file_too_large"
        )
    try:
        parsed, problems = gradebook.parse(content, file.filename or "")
    except UnreadableGradebook as exc:
        raise DomainError(str(exc), code="unreadable_spreadsheet") from None
    rejected = [RowRejected(**vars(p)) for p in problems]
    items, rows = [], []
    for item in parsed:
        if (item.kind is None) != (grade <= 5):
            rejected.append(
                RowRejected(
                    row=item.row,
                    student_id=item.student_id,
                    subject_code=item.subject_code,
                    field="row",
                    problem=f"this sheet's columns do not fit a grade-{grade} class; "
                    "start from the class's template",
                )
            )
            continue
        try:
            items.append(_sheet_item(item, class_id, school_year, period, term, submitted_by))
            rows.append(item)
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                rejected.append(
                    RowRejected(
                        row=item.row,
                        student_id=item.student_id,
                        subject_code=item.subject_code,
                        field=".".join(str(x) for x in err["loc"]) or "row",
                        problem=str(err["msg"]),
                    )
                )
    items = await _may_assess(access, reader, items)
    result = await service.submit(items, check_enrollment=True) if items else None
    if result is not None:
        rejected += [
            RowRejected(
                row=rows[r.index].row,
                student_id=r.student_id,
                subject_code=r.subject_code,
                field=r.field,
                problem=r.problem,
            )
            for r in result.rejected
        ]
    rejected.sort(key=lambda r: (r.row, r.subject_code))
    return GradebookOut(
        accepted=result.accepted if result else 0,
        unchanged=result.unchanged if result else 0,
        rejected=rejected,
    )


# -- after the close: class lists and report cards --------------------------------------------------
_pages = Environment(
    loader=PackageLoader("hocba_assessment", "templates"), autoescape=select_autoescape(["html"])
)


@router.get(
    "/classes/{class_id}/lists",
    summary="The class lists after the close (HTML page, XLSX or JSON)",
    response_class=Response,
)
async def lists(
    class_id: Code,
    reader: Reader,
    gradebook: Gradebook,
    access: Caller,
    request: Request,
    school_year: Annotated[SchoolYear, Query()],
    format: Annotated[str, Query(pattern="^(html|xlsx|json)$")] = "html",
) -> Response:
    await _class(access, reader, class_id)
    result = await reports.class_lists(reader, class_id, school_year)
    if format == "json":
        import json

        body = {
            "class_id": result.class_id,
            "school_year": result.school_year,
            "closed": result.closed,
            "lists": {
                k: {"title": result.titles[k], "students": v} for k, v in result.lists.items()
            },
        }
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")
    if format == "xlsx":
        return Response(
            gradebook.lists_xlsx(result),
            media_type=gradebook.xlsx_type,
            headers={"Content-Disposition": f'attachment; filename="danh-sach-{class_id}.xlsx"'},
        )
    return Response(
        _pages.get_template("lists.html").render(
            c=result, titles=result.titles, nonce=csp_nonce(request)
        ),
        media_type="text/html; charset=utf-8",
    )


@router.get(
    "/classes/{class_id}/students/{student_id}/report-card",
    response_class=Response,
    summary="A student's report card (phiếu điểm) for the parents (HTML)",
)
async def report_card(
    class_id: Code,
    student_id: Code,
    reader: Reader,
    access: Caller,
    request: Request,
    school_year: Annotated[SchoolYear, Query()],
) -> Response:
    await _class(access, reader, class_id, student_id=student_id)
    card = await reports.report_card(reader, class_id, school_year, student_id)
    return Response(
        _pages.get_template("report_card.html").render(r=card, nonce=csp_nonce(request)),
        media_type="text/html; charset=utf-8",
    )
