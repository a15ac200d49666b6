"""What a homeroom teacher gets after closing a class: the class lists the rules call for, and
each student's report card (phiếu điểm) for the parents. Read from the locked records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hocba_runtime.errors import NotFound

from hocba_assessment.application import year_record
from hocba_assessment.application.ports import AssessmentReader
from hocba_assessment.domain import primary, secondary
from hocba_assessment.domain.marks import SUMMER, Conduct, Mark, SubjectAssessment, Trait


@dataclass
class ClassLists:
    class_id: str
    class_name: str
    grade: int
    school_name: str
    school_year: str
    closed: bool
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)


LIST_TITLES = {
    "hoan_thanh_chuong_trinh": "Học sinh hoàn thành chương trình lớp học",
    "chua_hoan_thanh": "Học sinh chưa hoàn thành chương trình lớp học (kèm kế hoạch hỗ trợ, đánh giá bổ sung)",
    "hoan_thanh_tieu_hoc": "Học sinh hoàn thành chương trình tiểu học",
    "khen_thuong": "Học sinh được khen thưởng cuối năm",
}
SECONDARY_TITLES = {
    "len_lop": "Học sinh được lên lớp",
    "khong_len_lop": "Học sinh không được lên lớp (ở lại lớp)",
    "kiem_tra_lai": "Học sinh kiểm tra lại các môn học trong kỳ nghỉ hè",
    "ren_luyen_he": "Học sinh rèn luyện trong kỳ nghỉ hè",
    "danh_hieu": "Học sinh được công nhận danh hiệu Học sinh Xuất sắc, Học sinh Giỏi",
    "chua_du_danh_gia": "Học sinh chưa đủ đánh giá để tính kết quả (cần bổ sung)",
}
# What a secondary row adds: the academic results of term I, term II and the year (TT22/2021 Art. 9).
SECONDARY_ROW_LABELS = ("term1_label", "term2_label", "year_label", "retake_label")


async def class_lists(reader: AssessmentReader, class_id: str, school_year: str) -> ClassLists:
    """The lists the rules call for after the close, from the locked records. Primary (TT27/2020
    Art. 11, 15): who completed the grade (and primary school), who did not, who is commended.
    Secondary (TT22/2021 Art. 9, 12-15): promoted and not, summer retakes with their subjects,
    summer conduct training, titles, and who still lacks assessments (with what is missing); each
    row gives the academic result of term I, term II and the year (Art. 9.3 adjustments said). Students
    appear by name and student id, ordered by name as on the class register."""
    roster = {e.student.student_id: e for e in await reader.roster(class_id, school_year)}
    if not roster:
        raise NotFound(f"class {class_id} has no students for {school_year}", code="empty_roster")
    first = next(iter(roster.values()))
    grade = first.class_info.grade
    titles = LIST_TITLES if grade <= 5 else SECONDARY_TITLES
    closure = await reader.closure(class_id, school_year)
    out = ClassLists(
        class_id,
        first.class_info.name,
        grade,
        first.school.name,
        school_year,
        closure is not None,
        {key: [] for key in titles},
        titles,
    )
    records = await reader.records(class_id, school_year)
    marks: dict[str, list[Mark]] = {}
    if grade > 5:
        for m in await reader.marks(class_id, school_year):
            marks.setdefault(m.student_id, []).append(m)
    for record in records:
        entry = roster.get(record.student_id)
        row = {
            "student_id": record.student_id,
            "full_name": entry.student.full_name if entry else "",
            "level_label": record.level_label,
            "note": "",
        }
        if grade <= 5:
            _primary_row(out, record, row)
        else:
            # The marks of a closed class are frozen, so the terms computed from them are the record's.
            row |= _secondary_labels(grade, marks.get(record.student_id, []))
            _secondary_row(out, record, row)
    if grade > 5:
        recorded = {r.student_id for r in records}
        for student_id, entry in roster.items():
            if student_id not in recorded:
                missing = year_record.problems(grade, marks.get(student_id, [])) or [
                    primary.Problem("", "no assessments yet")
                ]
                out.lists["chua_du_danh_gia"].append(
                    {
                        "student_id": student_id,
                        "full_name": entry.student.full_name,
                        "level_label": "",
                        **dict.fromkeys(SECONDARY_ROW_LABELS, ""),
                        "note": "; ".join(
                            f"{p.field}: {p.problem}" if p.field else p.problem for p in missing
                        ),
                    }
                )
    for rows in out.lists.values():
        rows.sort(key=lambda r: (r["full_name"].split()[-1:], r["full_name"]))
    if grade != 5:
        out.lists.pop("hoan_thanh_tieu_hoc", None)
    return out


def _primary_row(out: ClassLists, record: Any, row: dict[str, Any]) -> None:
    if primary.completes_grade(record.level):
        out.lists["hoan_thanh_chuong_trinh"].append(row)
        if primary.completes_primary(out.grade, record.level):
            out.lists["hoan_thanh_tieu_hoc"].append(row)
    else:
        out.lists["chua_hoan_thanh"].append(row)
    title = record.commendation or primary.commendation(record.level)
    if title:
        out.lists["khen_thuong"].append({**row, "note": title})


def _secondary_row(out: ClassLists, record: Any, row: dict[str, Any]) -> None:
    promotion = record.promotion or ""
    out.lists[
        "len_lop"
        if promotion == "len_lop"
        else "khong_len_lop"
        if promotion == "o_lai_lop"
        else promotion
    ].append({**row, "note": record.promotion_label or ""})
    if promotion == "kiem_tra_lai":
        out.lists["kiem_tra_lai"][-1]["note"] = "Môn: " + ", ".join(
            secondary.SUBJECT_NAMES.get(c, c) for c in record.retake_subjects
        )
    if record.commendation:
        out.lists["danh_hieu"].append({**row, "note": record.commendation})


def academic_label(result: Any, names: dict[str, str] | None = None) -> str:
    """An academic result as a line says it: the level, and when Art. 9.3 raised it, from what and
    for which subject (TT22/2021 Art. 9.3)."""
    if result is None:
        return ""
    if not result.adjusted_for:
        return str(result.level_label)
    subject = (names or secondary.SUBJECT_NAMES).get(result.adjusted_for, result.adjusted_for)
    return (
        f"{result.level_label} (điều chỉnh từ {secondary.LEVEL_LABELS[result.unadjusted_level]}, "
        f"chỉ vì môn {subject}: khoản 3 Điều 9)"
    )


def _secondary_labels(grade: int, marks: list[Mark]) -> dict[str, str]:
    """A secondary row's academic results as the year's record computes them (TT22/2021 Art. 9):
    term I, term II, the year at the close, and the re-assessment after a summer retake."""
    try:
        made = year_record.compute(grade, marks)
    except secondary.Incomplete:
        made = None
    if made is None:
        return dict.fromkeys(SECONDARY_ROW_LABELS, "")
    r = made.result
    return {
        "term1_label": academic_label(r.academic_term1),
        "term2_label": academic_label(r.academic_term2),
        "year_label": academic_label(r.academic_full_year),
        "retake_label": r.level_label if r.reassessed and r.retake_subjects else "",
    }


PRIMARY_COLUMNS = [
    ("mid_term_1", "Giữa HK I"),
    ("end_term_1", "Cuối HK I"),
    ("mid_term_2", "Giữa HK II"),
    ("end_of_year", "Cuối năm"),
]
SECONDARY_COLUMNS = [
    ("regular_1", "ĐĐGtx HK I"),
    ("mid_term_1", "Giữa HK I"),
    ("end_term_1", "Cuối HK I"),
    ("avg_1", "ĐTB HK I"),
    ("regular_2", "ĐĐGtx HK II"),
    ("mid_term_2", "Giữa HK II"),
    ("end_term_2", "Cuối HK II"),
    ("avg_2", "ĐTB HK II"),
    ("year", "Cả năm"),
]


def _shown(m: SubjectAssessment) -> str:
    if m.score is not None:
        return f"{m.score:g}"
    return {"D": "Đ", "CD": "CĐ"}.get(m.rating or "", m.rating or "")


async def report_card(
    reader: AssessmentReader, class_id: str, school_year: str, student_id: str
) -> dict[str, Any]:
    """Phiếu điểm: the student's assessments by subject and period, with comments; for secondary
    school the term and year averages too, and the academic result of term I, term II and the year
    with their Art. 9.3 adjustments; then qualities and competencies (primary) or conduct
    (secondary), days absent and the year's result."""
    roster = {e.student.student_id: e for e in await reader.roster(class_id, school_year)}
    entry = roster.get(student_id)
    if entry is None:
        raise NotFound(
            f"student {student_id} is not in class {class_id} for {school_year}",
            code="not_enrolled",
        )
    grade = entry.class_info.grade
    marks = [m for m in await reader.marks(class_id, school_year) if m.student_id == student_id]
    names = primary.SUBJECT_NAMES if grade <= 5 else secondary.SUBJECT_NAMES
    codes = primary.subjects_for(grade) if grade <= 5 else secondary.subjects_for(grade)
    subjects: dict[str, dict[str, Any]] = {
        c: {"subject_name": names[c], "cells": {}, "comments": []}
        for c in codes
        if grade <= 5 or c in secondary.compulsory(grade)
    }
    lines: list[tuple[str, str]] = []
    traits: dict[str, str] = {}
    for m in marks:
        if isinstance(m, Trait):
            if m.period == "end_of_year" and m.level:
                traits[m.code] = m.level
            continue
        if isinstance(m, Conduct):
            if m.level:
                term = {
                    "term_1": "HK I",
                    "term_2": "HK II",
                    SUMMER: "sau rèn luyện hè",
                }.get(m.period, m.period)
                lines.append((f"Rèn luyện {term}", secondary.LEVEL_LABELS.get(m.level, m.level)))
            continue
        if not isinstance(m, SubjectAssessment):
            continue  # attendance: the days absent, below
        row = subjects.setdefault(
            m.subject_code,
            {
                "subject_name": names.get(m.subject_code, m.subject_code),
                "cells": {},
                "comments": [],
            },
        )
        if m.comment:
            row["comments"].append(m.comment)
        if grade <= 5:
            text = primary.RATING_LABELS.get(m.rating or "", "")
            row["cells"][m.period] = text + (f" · {m.score:g} điểm" if m.score is not None else "")
        elif m.period.startswith("regular_"):
            column = m.period.rsplit("_", 1)[0]
            row["cells"][column] = (row["cells"].get(column, "") + " " + _shown(m)).strip()
        elif m.period == SUMMER:
            row["cells"]["year"] = row["cells"].get("year", "") + f" (thi lại: {_shown(m)})"
        else:
            row["cells"][m.period] = _shown(m)
    if grade > 5:
        try:
            made = year_record.compute(grade, marks)
        except secondary.Incomplete:
            made = None
        for s in made.subjects if made else ():
            cells = subjects[s.subject_code]["cells"]
            if s.term1_average is not None:
                cells["avg_1"], cells["avg_2"] = f"{s.term1_average:.1f}", f"{s.term2_average:.1f}"
            cells["year"] = (s.result_label or "") + cells.get("year", "")
        if made is not None:
            r = made.result
            lines[:0] = [
                ("Học tập HK I", academic_label(r.academic_term1)),
                ("Học tập HK II", academic_label(r.academic_term2)),
                ("Học tập cả năm", academic_label(r.academic_full_year)),
            ]
    else:
        for code, label in [*primary.QUALITIES.items(), *primary.COMPETENCIES.items()]:
            if code in traits:
                lines.append((label, primary.QC_LABELS[traits[code]]))
    absent = year_record.days_absent(marks)
    if absent is not None:
        lines.append(("Số ngày nghỉ", f"{absent:g}"))
    record = next(
        (r for r in await reader.records(class_id, school_year) if r.student_id == student_id), None
    )
    result = None
    if record is not None:
        result = record.level_label if grade <= 5 else f"Học tập: {record.level_label}"
        if record.promotion_label:
            result += f" · {record.promotion_label}"
        if record.commendation:
            result += f" · {record.commendation}"
    return {
        "student": entry.student,
        "class_info": entry.class_info,
        "school": entry.school,
        "school_year": school_year,
        "subjects": subjects,
        "result": result,
        "lines": lines,
        "periods": PRIMARY_COLUMNS if grade <= 5 else SECONDARY_COLUMNS,
    }
