"""What a homeroom teacher gets after closing a class: the class lists the rules call for, and
each student's report card (phiếu điểm) for the parents. Read from the locked records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hocba_assessment.application.ports import AssessmentReader
from hocba_assessment.domain import primary
from hocba_runtime.errors import NotFound


@dataclass
class ClassLists:
    class_id: str
    class_name: str
    grade: int
    school_name: str
    school_year: str
    closed: bool
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


LIST_TITLES = {
    "hoan_thanh_chuong_trinh": "Học sinh hoàn thành chương trình lớp học",
    "chua_hoan_thanh": "Học sinh chưa hoàn thành chương trình lớp học (kèm kế hoạch hỗ trợ, đánh giá bổ sung)",
    "hoan_thanh_tieu_hoc": "Học sinh hoàn thành chương trình tiểu học",
    "khen_thuong": "Học sinh được khen thưởng cuối năm",
}


async def class_lists(reader: AssessmentReader, class_id: str, school_year: str) -> ClassLists:
    """TT27/2020 Art. 11 and 15: who completed the grade (and primary school), who did not, who is
    commended. Students appear by name and student id, ordered by name as on the class register."""
    roster = {e.student.student_id: e for e in await reader.roster(class_id, school_year)}
    if not roster:
        raise NotFound(f"class {class_id} has no students for {school_year}", code="empty_roster")
    first = next(iter(roster.values()))
    closure = await reader.closure(class_id, school_year)
    out = ClassLists(class_id, first.class_info.name, first.class_info.grade, first.school.name, school_year,
                     closure is not None, {key: [] for key in LIST_TITLES})
    for record in await reader.records(class_id, school_year):
        entry = roster.get(record.student_id)
        row = {"student_id": record.student_id, "full_name": entry.student.full_name if entry else "",
               "level_label": record.level_label}
        if primary.completes_grade(record.level):
            out.lists["hoan_thanh_chuong_trinh"].append(row)
            if primary.completes_primary(out.grade, record.level):
                out.lists["hoan_thanh_tieu_hoc"].append(row)
        else:
            out.lists["chua_hoan_thanh"].append(row)
        title = primary.commendation(record.level)
        if title:
            out.lists["khen_thuong"].append({**row, "title": title})
    for rows in out.lists.values():
        rows.sort(key=lambda r: (r["full_name"].split()[-1:], r["full_name"]))
    if out.grade != 5:
        out.lists.pop("hoan_thanh_tieu_hoc")
    return out


async def report_card(reader: AssessmentReader, class_id: str, school_year: str, student_id: str) -> dict[str, Any]:
    """Phiếu điểm: the student's ratings, test scores and comments by subject and period."""
    roster = {e.student.student_id: e for e in await reader.roster(class_id, school_year)}
    entry = roster.get(student_id)
    if entry is None:
        raise NotFound(f"student {student_id} is not in class {class_id} for {school_year}", code="not_enrolled")
    marks = [m for m in await reader.marks(class_id, school_year) if m.student_id == student_id]
    by_subject: dict[str, dict[str, Any]] = {}
    for code in primary.subjects_for(entry.class_info.grade):
        by_subject[code] = {"subject_name": primary.SUBJECT_NAMES[code], "periods": {}}
    for m in marks:
        row = by_subject.setdefault(m.subject_code, {"subject_name": m.subject_code, "periods": {}})
        row["periods"][m.period] = {"rating": m.rating, "rating_label": primary.RATING_LABELS.get(m.rating or ""),
                                    "score": m.score, "comment": m.comment}
    record = next((r for r in await reader.records(class_id, school_year) if r.student_id == student_id), None)
    return {"student": entry.student, "class_info": entry.class_info, "school": entry.school, "school_year": school_year,
            "subjects": by_subject, "result": record.level_label if record else None,
            "periods": [("mid_term_1", "Giữa HK I"), ("end_term_1", "Cuối HK I"), ("mid_term_2", "Giữa HK II"),
                        ("end_of_year", "Cuối năm")]}
