"""A class's gradebook as a teacher's spreadsheet (XLSX or CSV): the template to fill in, and
reading it back into assessment items with every problem tied to its row and column.

Layout (one row per student, one group of columns per subject):
    Mã học sinh | Họ và tên | <Subject> – mức (CODE:rating) | <Subject> – điểm (CODE:score) | <Subject> – nhận xét (CODE:comment) ...
Secondary classes (TT22/2021) fill one term per file; each subject has its regular assessments,
mid-term and end-of-term (CODE:regular_1 ... CODE:mid_term, CODE:end_term), a score for scored
subjects and Đ / CĐ for comment subjects, then the homeroom teacher's conduct column
(CONDUCT:conduct: T, K, Đ or CĐ).
Columns are recognised by the code in brackets, so teachers may reorder or rename the rest of a
header. Empty cells mean "nothing to record"; a subject with only a comment is refused.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from hocba_assessment.application.gradebook import ParsedItem, RowProblem, UnreadableGradebook
from hocba_assessment.application.reports import ClassLists
from hocba_assessment.domain import primary, secondary

HEADER = re.compile(
    r"\(([A-Z0-9]+):(rating|score|comment|regular_[1-9]|mid_term|end_term|conduct)\)\s*$"
)
CONDUCT_CODES = {"T": "tot", "K": "kha", "Đ": "dat", "D": "dat", "CĐ": "chua_dat", "CD": "chua_dat"}
COMMENT_CODES = {"Đ": "D", "D": "D", "CĐ": "CD", "CD": "CD"}
STUDENT_COLUMN = "Mã học sinh (student_id)"
NAME_COLUMN = "Họ và tên"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ROWS = 2_000


class SpreadsheetError(UnreadableGradebook):
    """The file itself cannot be read (not the rows in it)."""


@dataclass(frozen=True)
class Cell:
    row: int  # as the teacher sees it: header is row 1
    column: str


class SpreadsheetGradebook:
    """The gradebook codec (`ports.GradebookCodec`) of XLSX and CSV spreadsheets."""

    xlsx_type = XLSX_TYPE

    def template_xlsx(
        self, grade: int, period: str, students: list[tuple[str, str]], title: str
    ) -> bytes:
        return template_xlsx(grade, period, students, title)

    def template_csv(self, grade: int, period: str, students: list[tuple[str, str]]) -> bytes:
        return template_csv(grade, period, students)

    def parse(self, content: bytes, filename: str) -> tuple[list[ParsedItem], list[RowProblem]]:
        return parse(content, filename)

    def lists_xlsx(self, result: ClassLists) -> bytes:
        return lists_xlsx(result, result.titles)


def _sheet(sheet: object) -> Worksheet:
    """A workbook's sheet as a worksheet (openpyxl types the active sheet loosely)."""
    if not isinstance(sheet, Worksheet):
        raise TypeError(f"expected a worksheet, found {type(sheet).__name__}")
    return sheet


def columns(grade: int, period: str) -> list[tuple[str, str, str]]:
    """(header, subject code, field) for each subject column of the grade at this period (a
    secondary grade: the term, "1" or "2")."""
    if grade > 5:
        return _secondary_columns(grade)
    out = []
    for code in primary.subjects_for(grade):
        name = primary.SUBJECT_NAMES[code]
        out.append((f"{name} – mức (T/H/C) ({code}:rating)", code, "rating"))
        if period in primary.test_periods(grade, code):
            out.append((f"{name} – điểm KTĐK ({code}:score)", code, "score"))
        out.append((f"{name} – nhận xét ({code}:comment)", code, "comment"))
    return out


def _secondary_columns(grade: int) -> list[tuple[str, str, str]]:
    out = []
    for code in secondary.compulsory(grade) + tuple(
        sorted(secondary.ELECTIVE_BY_GRADE.get(grade, ()))
    ):
        name = secondary.SUBJECT_NAMES[code]
        for i in range(1, secondary.regular_needed(grade, code) + 1):
            out.append((f"{name} – ĐĐGtx {i} ({code}:regular_{i})", code, f"regular_{i}"))
        out.append((f"{name} – giữa kỳ ({code}:mid_term)", code, "mid_term"))
        out.append((f"{name} – cuối kỳ ({code}:end_term)", code, "end_term"))
        out.append((f"{name} – nhận xét ({code}:comment)", code, "comment"))
    out.append(("Rèn luyện – T/K/Đ/CĐ (CONDUCT:conduct)", "CONDUCT", "conduct"))
    return out


def template_xlsx(grade: int, period: str, students: list[tuple[str, str]], title: str) -> bytes:
    """The gradebook to fill in: the class's students, one group of columns per subject."""
    wb = Workbook()
    ws = _sheet(wb.active)
    ws.title = "Sổ theo dõi"
    subject_columns = columns(grade, period)
    ws.append([STUDENT_COLUMN, NAME_COLUMN] + [h for h, _, _ in subject_columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="FDECEA")
    for student_id, name in students:
        ws.append([student_id, name])
    last = max(2, len(students) + 1)
    if grade > 5:
        guide = _secondary_sheet(ws, subject_columns, last)
    else:
        guide = _primary_sheet(ws, subject_columns, last)
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 28
    ws.freeze_panes = "C2"
    sheet = wb.create_sheet("Hướng dẫn")
    for line in (
        title,
        "",
        *guide,
        "Không đổi cột Mã học sinh và phần (MÃ:loại) cuối mỗi tiêu đề cột.",
        "Ô để trống: không ghi nhận. Dòng sai được báo lại từng ô; các dòng đúng vẫn được lưu.",
    ):
        sheet.append([line])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _primary_sheet(
    ws: Any, subject_columns: list[tuple[str, str, str]], last: int
) -> tuple[str, ...]:
    """Rating and score validation on a primary gradebook; the guide's lines for it."""
    ratings = DataValidation(
        type="list",
        formula1='"T,H,C"',
        allow_blank=True,
        error="Chỉ nhập T (Hoàn thành tốt), H (Hoàn thành) hoặc C (Chưa hoàn thành)",
    )
    scores = DataValidation(
        type="whole",
        operator="between",
        formula1="0",
        formula2="10",
        allow_blank=True,
        error="Điểm kiểm tra định kỳ là số nguyên từ 0 đến 10",
    )
    ws.add_data_validation(ratings)
    ws.add_data_validation(scores)
    for index, (_, _, fld) in enumerate(subject_columns, start=3):
        letter = ws.cell(row=1, column=index).column_letter
        if fld == "rating":
            ratings.add(f"{letter}2:{letter}{last}")
        elif fld == "score":
            scores.add(f"{letter}2:{letter}{last}")
        ws.column_dimensions[letter].width = 16 if fld != "comment" else 30
    return (
        "Mức đạt được: T = Hoàn thành tốt, H = Hoàn thành, C = Chưa hoàn thành.",
        "Điểm kiểm tra định kỳ: số nguyên từ 0 đến 10, chỉ ở các môn có bài kiểm tra.",
    )


def _secondary_sheet(
    ws: Any, subject_columns: list[tuple[str, str, str]], last: int
) -> tuple[str, ...]:
    """Column widths and the conduct column's validation on a secondary term's gradebook; the
    guide's lines for it."""
    for index, (_, _, fld) in enumerate(subject_columns, start=3):
        letter = ws.cell(row=1, column=index).column_letter
        ws.column_dimensions[letter].width = 30 if fld == "comment" else 14
    conduct = DataValidation(
        type="list",
        formula1='"T,K,Đ,CĐ"',
        allow_blank=True,
        error="Rèn luyện: T (Tốt), K (Khá), Đ (Đạt) hoặc CĐ (Chưa đạt)",
    )
    ws.add_data_validation(conduct)
    letter = ws.cell(row=1, column=len(subject_columns) + 2).column_letter
    conduct.add(f"{letter}2:{letter}{last}")
    return (
        "Môn đánh giá bằng điểm số: điểm từ 0 đến 10, lấy đến một chữ số thập phân (ví dụ 7,5).",
        "Môn đánh giá bằng nhận xét (GDTC, Nghệ thuật, HĐTN-HN, GDĐP): Đ = Đạt, CĐ = Chưa đạt.",
        "Mỗi tệp là một học kỳ; giáo viên bộ môn có thể chỉ điền cột môn mình.",
        "Rèn luyện (giáo viên chủ nhiệm): T = Tốt, K = Khá, Đ = Đạt, CĐ = Chưa đạt.",
    )


def template_csv(grade: int, period: str, students: list[tuple[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([STUDENT_COLUMN, NAME_COLUMN] + [h for h, _, _ in columns(grade, period)])
    for student_id, name in students:
        writer.writerow([student_id, name])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def _rows(content: bytes, filename: str) -> list[list[Any]]:
    if filename.lower().endswith(".xlsx") or content[:2] == b"PK":
        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds
            raise SpreadsheetError(
                f"the file is not a readable .xlsx workbook ({type(exc).__name__})"
            ) from None
        ws = wb.worksheets[0]
        return [list(r) for r in ws.iter_rows(values_only=True, max_row=MAX_ROWS + 1)]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SpreadsheetError(
            "the CSV file is not UTF-8; save it as 'CSV UTF-8' and send it again"
        ) from None
    return list(csv.reader(io.StringIO(text)))[: MAX_ROWS + 1]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def parse(content: bytes, filename: str) -> tuple[list[ParsedItem], list[RowProblem]]:
    """Read a filled gradebook. Returns the items to submit and the problems found while reading."""
    rows = _rows(content, filename)
    if not rows:
        raise SpreadsheetError("the file is empty; start from the class's template")
    header = [_text(h) for h in rows[0]]
    if not header or not header[0].startswith("Mã học sinh"):
        raise SpreadsheetError(
            "the first column must be 'Mã học sinh (student_id)'; start from the class's template"
        )
    fields: dict[int, tuple[str, str]] = {}
    for index, title in enumerate(header):
        m = HEADER.search(title)
        if m:
            fields[index] = (m.group(1), m.group(2))
    if not fields:
        raise SpreadsheetError(
            "no subject columns found: each subject column ends with (CODE:rating), (CODE:score) or (CODE:comment)"
        )
    secondary_sheet = any(fld not in ("rating", "score", "comment") for _, fld in fields.values())
    items: list[ParsedItem] = []
    problems: list[RowProblem] = []
    for number, row in enumerate(rows[1:], start=2):
        student_id = _text(row[0]) if row else ""
        cells = {i: _text(row[i]) if i < len(row) else "" for i in fields}
        if not student_id:
            if any(cells.values()):
                problems.append(
                    RowProblem(
                        number, "", "", "student_id", "the student id is missing on this row"
                    )
                )
            continue
        per_subject: dict[str, dict[str, str]] = {}
        for i, (code, fld) in fields.items():
            if cells[i]:
                per_subject.setdefault(code, {})[fld] = cells[i]
        for code, values in per_subject.items():
            if secondary_sheet:
                _secondary_cells(number, student_id, code, values, items, problems)
                continue
            rating = values.get("rating", "").upper() or None
            score: float | None = None
            if "score" in values:
                try:
                    score = float(values["score"].replace(",", "."))
                except ValueError:
                    problems.append(
                        RowProblem(
                            number,
                            student_id,
                            code,
                            "score",
                            f"'{values['score'][:10]}' is not a number; write the score 0-10",
                        )
                    )
                    continue
            if rating is None and score is None:
                problems.append(
                    RowProblem(
                        number,
                        student_id,
                        code,
                        "rating",
                        "a comment alone is not an assessment; add the rating T, H or C",
                    )
                )
                continue
            items.append(
                ParsedItem(number, student_id, code, rating, score, values.get("comment", ""))
            )
    return items, problems


def lists_xlsx(result: ClassLists, titles: dict[str, str]) -> bytes:
    """The class lists as a workbook: one sheet a list."""
    wb = Workbook()
    wb.remove(_sheet(wb.active))
    for key, rows in result.lists.items():
        ws = wb.create_sheet(key[:31])
        ws.append([titles[key]])
        ws["A1"].font = Font(bold=True)
        ws.append(["#", "Họ và tên", "Mã học sinh", "Kết quả", "Ghi chú"])
        for i, row in enumerate(rows, start=1):
            ws.append(
                [i, row["full_name"], row["student_id"], row["level_label"], row.get("note", "")]
            )
        ws.column_dimensions["B"].width = 30
        ws.column_dimensions["C"].width = 18
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _secondary_cells(
    number: int,
    student_id: str,
    code: str,
    values: dict[str, str],
    items: list[ParsedItem],
    problems: list[RowProblem],
) -> None:
    """One secondary subject's cells on a row: each assessment is its own item."""
    if code == "CONDUCT":
        level = CONDUCT_CODES.get(values["conduct"].upper())
        if level is None:
            problems.append(
                RowProblem(
                    number,
                    student_id,
                    "conduct",
                    "conduct",
                    f"'{values['conduct'][:10]}' is not a conduct level; write T, K, Đ or CĐ",
                )
            )
        else:
            items.append(ParsedItem(number, student_id, code, level, None, "", "conduct"))
        return
    comment = values.get("comment", "")
    if set(values) == {"comment"}:
        problems.append(
            RowProblem(
                number,
                student_id,
                code,
                "comment",
                "a comment alone is not an assessment; add the end-of-term result",
            )
        )
        return
    for fld, text in values.items():
        if fld == "comment":
            continue
        kind, index = (
            ("regular", int(fld.rsplit("_", 1)[1])) if fld.startswith("regular_") else (fld, 1)
        )
        rating = COMMENT_CODES.get(text.upper()) if secondary.is_comment_subject(code) else None
        score: float | None = None
        if rating is None:
            try:
                score = float(text.replace(",", "."))
            except ValueError:
                expected = "Đ or CĐ" if secondary.is_comment_subject(code) else "a score 0-10"
                problems.append(
                    RowProblem(
                        number,
                        student_id,
                        code,
                        fld,
                        f"'{text[:10]}' is not valid; write {expected}",
                    )
                )
                continue
        items.append(
            ParsedItem(
                number,
                student_id,
                code,
                rating,
                score,
                comment if kind == "end_term" else "",
                kind,
                index,
            )
        )
