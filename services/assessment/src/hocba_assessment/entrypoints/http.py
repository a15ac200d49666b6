"""Assessment's HTTP API: a class's gradebook as one batch, closing the year, the closed records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from hocba_contracts.payloads.assessment import SubjectAssessmentSubmitted
from hocba_contracts.payloads.common import Code, SchoolYear
from hocba_runtime.errors import DomainError, NotFound
from pydantic import BaseModel, Field, ValidationError

from jinja2 import Environment, PackageLoader, select_autoescape

from hocba_assessment.adapters import spreadsheet
from hocba_assessment.application import reports
from hocba_assessment.application.ports import AssessmentReader
from hocba_assessment.application.use_cases import AssessmentService

router = APIRouter(tags=["assessment"])


def _service(request: Request) -> AssessmentService:
    return request.app.state.assessment  # type: ignore[no-any-return]


def _reader(request: Request) -> AssessmentReader:
    return request.app.state.reader  # type: ignore[no-any-return]


Service = Annotated[AssessmentService, Depends(_service)]
Reader = Annotated[AssessmentReader, Depends(_reader)]


class Batch(BaseModel):
    items: list[SubjectAssessmentSubmitted] = Field(min_length=1, max_length=20_000)
    reason: str = Field(default="", max_length=500, description="Why values change (kept in the audit trail)")


class RejectedItem(BaseModel):
    index: int
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
    requested_by: Code


class CloseOut(BaseModel):
    class_id: str
    school_year: str
    closed: bool
    records: int = Field(description="Year records emitted by this request")


class RecordOut(BaseModel):
    record_id: str
    record_version: int
    student_id: str
    level: str
    level_label: str


class ClassRecordsOut(BaseModel):
    class_id: str
    school_year: str
    closed: bool
    records: list[RecordOut]


@router.post("/assessments", response_model=BatchOut, summary="Submit a batch of subject assessments")
async def post_assessments(body: Batch, service: Service) -> BatchOut:
    """Each item is checked on its own; the valid ones are stored even when others are rejected."""
    result = await service.submit(body.items, check_enrollment=True, reason=body.reason)
    return BatchOut(accepted=result.accepted, unchanged=result.unchanged,
                    rejected=[RejectedItem(**vars(r)) for r in result.rejected])


@router.post("/classes/{class_id}/close", response_model=CloseOut, summary="Close a class's school year")
async def close_class(class_id: Code, body: CloseIn, service: Service) -> CloseOut:
    emitted = await service.close_class(class_id, body.school_year, body.requested_by)
    return CloseOut(class_id=class_id, school_year=body.school_year, closed=True, records=emitted)


@router.get("/classes/{class_id}/records", response_model=ClassRecordsOut, summary="A class's closed year records")
async def class_records(class_id: Code, reader: Reader, school_year: Annotated[SchoolYear, Query()]) -> ClassRecordsOut:
    records = await reader.records(class_id, school_year)
    closure = await reader.closure(class_id, school_year)
    return ClassRecordsOut(class_id=class_id, school_year=school_year, closed=closure is not None,
                           records=[RecordOut(record_id=r.record_id, record_version=r.record_version,
                                              student_id=r.student_id, level=r.level, level_label=r.level_label)
                                    for r in records])


class UnlockIn(BaseModel):
    school_year: SchoolYear
    approved_by: Code = Field(description="The school administrator who approves reopening")
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
    rejected: list[RowRejected] = Field(description="Every refused cell, by row as the teacher sees it")


Period = Annotated[str, Query(pattern="^(mid_term_1|end_term_1|mid_term_2|end_of_year)$")]


@router.post("/classes/{class_id}/unlock", summary="Reopen a closed class (school administrator, logged)")
async def unlock(class_id: Code, body: UnlockIn, service: Service) -> dict[str, object]:
    await service.unlock(class_id, body.school_year, body.approved_by, body.reason)
    return {"class_id": class_id, "school_year": body.school_year, "closed": False}


@router.get("/classes/{class_id}/audit", response_model=list[AuditOut], summary="Corrections, closes and unlocks")
async def audit(class_id: Code, reader: Reader, school_year: Annotated[SchoolYear, Query()]) -> list[AuditOut]:
    return [AuditOut(action=e.action, by=e.by, at=e.at.isoformat(), key=e.key, old=e.old, new=e.new, reason=e.reason)
            for e in await reader.audit_trail(class_id, school_year)]


async def _roster(reader: AssessmentReader, class_id: str, school_year: str) -> tuple[int, list[tuple[str, str]], str]:
    roster = await reader.roster(class_id, school_year)
    if not roster:
        raise NotFound(f"class {class_id} has no students enrolled for {school_year} yet", code="empty_roster")
    info = roster[0].class_info
    title = f"Sổ theo dõi chất lượng giáo dục – lớp {info.name} – năm học {school_year}"
    return info.grade, [(e.student.student_id, e.student.full_name) for e in roster], title


@router.get("/classes/{class_id}/gradebook-template", summary="The class's gradebook to fill in (XLSX or CSV)",
            response_class=Response)
async def gradebook_template(class_id: Code, reader: Reader, school_year: Annotated[SchoolYear, Query()],
                             period: Period = "end_of_year",
                             format: Annotated[str, Query(pattern="^(xlsx|csv)$")] = "xlsx") -> Response:
    grade, students, title = await _roster(reader, class_id, school_year)
    if format == "csv":
        body, media = spreadsheet.template_csv(grade, period, students), "text/csv; charset=utf-8"
    else:
        body, media = spreadsheet.template_xlsx(grade, period, students, title), spreadsheet.XLSX_TYPE
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="so-theo-doi-{class_id}-{period}.{format}"'})


@router.post("/classes/{class_id}/gradebook", response_model=GradebookOut,
             summary="Upload a filled gradebook (XLSX or CSV): good rows are stored, bad cells reported")
async def upload_gradebook(class_id: Code, service: Service, school_year: Annotated[SchoolYear, Query()],
                           submitted_by: Annotated[Code, Query()], file: Annotated[UploadFile, File()],
                           period: Period = "end_of_year") -> GradebookOut:
    content = await file.read(5_000_001)
    if len(content) > 5_000_000:
        raise DomainError("the file is larger than 5 MB; send one class at a time", code="file_too_large")
    try:
        parsed, problems = spreadsheet.parse(content, file.filename or "")
    except spreadsheet.SpreadsheetError as exc:
        raise DomainError(str(exc), code="unreadable_spreadsheet") from None
    rejected = [RowRejected(**vars(p)) for p in problems]
    items, rows = [], []
    for item in parsed:
        try:
            items.append(SubjectAssessmentSubmitted(
                class_id=class_id, school_year=school_year, student_id=item.student_id, subject_code=item.subject_code,
                period=period, rating=item.rating, score=item.score, comment=item.comment, submitted_by=submitted_by))
            rows.append(item)
        except ValidationError as exc:
            for err in exc.errors(include_input=False, include_url=False):
                rejected.append(RowRejected(row=item.row, student_id=item.student_id, subject_code=item.subject_code,
                                            field=".".join(str(x) for x in err["loc"]) or "row", problem=str(err["msg"])))
    result = await service.submit(items, check_enrollment=True) if items else None
    if result is not None:
        rejected += [RowRejected(row=rows[r.index].row, student_id=r.student_id, subject_code=r.subject_code,
                                 field=r.field, problem=r.problem) for r in result.rejected]
    rejected.sort(key=lambda r: (r.row, r.subject_code))
    return GradebookOut(accepted=result.accepted if result else 0, unchanged=result.unchanged if result else 0,
                        rejected=rejected)


# -- after the close: class lists and report cards --------------------------------------------------
_pages = Environment(loader=PackageLoader("hocba_assessment", "templates"), autoescape=select_autoescape(["html"]))


@router.get("/classes/{class_id}/lists", summary="The class lists after the close (HTML page, XLSX or JSON)",
            response_class=Response)
async def lists(class_id: Code, reader: Reader, school_year: Annotated[SchoolYear, Query()],
                format: Annotated[str, Query(pattern="^(html|xlsx|json)$")] = "html") -> Response:
    result = await reports.class_lists(reader, class_id, school_year)
    if format == "json":
        import json

        body = {"class_id": result.class_id, "school_year": result.school_year, "closed": result.closed,
                "lists": {k: {"title": reports.LIST_TITLES[k], "students": v} for k, v in result.lists.items()}}
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json")
    if format == "xlsx":
        return Response(spreadsheet.lists_xlsx(result, reports.LIST_TITLES), media_type=spreadsheet.XLSX_TYPE,
                        headers={"Content-Disposition": f'attachment; filename="danh-sach-{class_id}.xlsx"'})
    return Response(_pages.get_template("lists.html").render(c=result, titles=reports.LIST_TITLES),
                    media_type="text/html; charset=utf-8")


@router.get("/classes/{class_id}/students/{student_id}/report-card", response_class=Response,
            summary="A student's report card (phiếu điểm) for the parents (HTML)")
async def report_card(class_id: Code, student_id: Code, reader: Reader,
                      school_year: Annotated[SchoolYear, Query()]) -> Response:
    card = await reports.report_card(reader, class_id, school_year, student_id)
    return Response(_pages.get_template("report_card.html").render(r=card), media_type="text/html; charset=utf-8")
