"""Primary-school evaluation (Thông tư 27/2020/TT-BGDĐT), simplified for the first slice.

What is here: the subjects of each grade, the ratings T/H/C, which subjects have periodic tests,
whole-number scores, and the four year-end levels computed from subjects and test scores. What is
not yet here (a later issue): qualities and competencies, mid-term rules, commendations, attendance.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

RULES = "TT27/2020 (simplified)"

SUBJECT_NAMES = {
    "TV": "Tiếng Việt",
    "TOAN": "Toán",
    "DD": "Đạo đức",
    "TNXH": "Tự nhiên và Xã hội",
    "KH": "Khoa học",
    "LSDL": "Lịch sử và Địa lí",
    "TA": "Ngoại ngữ 1 (Tiếng Anh)",
    "TH": "Tin học và Công nghệ",
    "GDTC": "Giáo dục thể chất",
    "AN": "Âm nhạc",
    "MT": "Mĩ thuật",
    "HDTN": "Hoạt động trải nghiệm",
}

_CORE = ["TV", "TOAN", "DD"]
_ARTS = ["GDTC", "AN", "MT", "HDTN"]
SUBJECTS_BY_GRADE: dict[int, tuple[str, ...]] = {
    1: tuple(_CORE + ["TNXH", "TA"] + _ARTS),  # Ngoại ngữ 1 optional in grades 1-2
    2: tuple(_CORE + ["TNXH", "TA"] + _ARTS),
    3: tuple(_CORE + ["TNXH", "TA", "TH"] + _ARTS),
    4: tuple(_CORE + ["KH", "LSDL", "TA", "TH"] + _ARTS),
    5: tuple(_CORE + ["KH", "LSDL", "TA", "TH"] + _ARTS),
}
TESTED_BY_GRADE: dict[int, frozenset[str]] = {
    1: frozenset({"TV", "TOAN"}),
    2: frozenset({"TV", "TOAN"}),
    3: frozenset({"TV", "TOAN", "TA", "TH"}),
    4: frozenset({"TV", "TOAN", "KH", "LSDL", "TA", "TH"}),
    5: frozenset({"TV", "TOAN", "KH", "LSDL", "TA", "TH"}),
}
RATING_LABELS = {"T": "Hoàn thành tốt", "H": "Hoàn thành", "C": "Chưa hoàn thành"}
LEVEL_LABELS = {
    "hoan_thanh_xuat_sac": "Hoàn thành xuất sắc",
    "hoan_thanh_tot": "Hoàn thành tốt",
    "hoan_thanh": "Hoàn thành",
    "chua_hoan_thanh": "Chưa hoàn thành",
}


@dataclass(frozen=True)
class Problem:
    field: str
    problem: str


@dataclass(frozen=True)
class SubjectMark:
    subject_code: str
    rating: str | None
    score: float | None
    comment: str = ""


def subjects_for(grade: int) -> tuple[str, ...]:
    """Subjects and educational activities of a primary grade (TT27/2020 Art. 3; 2018 programme)."""
    if not 1 <= grade <= 5:
        raise ValueError(f"grade {grade} is not a primary grade (1-5)")
    return SUBJECTS_BY_GRADE[grade]


def has_periodic_test(grade: int, subject_code: str) -> bool:
    """Periodic tests exist for Tiếng Việt and Toán, and from grade 3/4 for the subjects listed
    in TT27/2020 Art. 7.2 (Ngoại ngữ 1, Tin học và Công nghệ, Khoa học, Lịch sử và Địa lí)."""
    return subject_code in TESTED_BY_GRADE[grade]


def check_mark(grade: int | None, subject_code: str, period: str, rating: str | None, score: float | None) -> list[Problem]:
    """What is wrong with one subject mark, if anything (TT27/2020 Art. 6-7)."""
    problems = []
    in_grade = grade is None or subject_code in subjects_for(grade)
    if not in_grade:
        problems.append(Problem("subject_code", f"grade {grade} has no subject {subject_code}; "
                                f"expected one of {', '.join(subjects_for(grade))}"))
    if rating is None and score is None:
        problems.append(Problem("rating", "give a rating (T, H or C), a score, or both"))
    if rating is not None and rating not in RATING_LABELS:
        problems.append(Problem("rating", "rating must be T (Hoàn thành tốt), H (Hoàn thành) or C (Chưa hoàn thành)"))
    if score is not None:
        if not 0 <= score <= 10:
            problems.append(Problem("score", "score must be between 0 and 10"))
        elif score != int(score):
            problems.append(Problem("score", "primary test scores are whole numbers (TT27/2020 Art. 7); no decimals"))
        if grade is not None and in_grade and not has_periodic_test(grade, subject_code):
            problems.append(Problem("score", f"{subject_code} has no periodic test in grade {grade}; send a rating only"))
        if period.startswith("mid_term") and not (grade in (4, 5) and subject_code in ("TV", "TOAN")):
            problems.append(Problem("score", "mid-term tests exist only for Tiếng Việt and Toán in grades 4-5"))
    return problems


def year_level(marks: Iterable[SubjectMark]) -> str:
    """Year-end educational result (TT27/2020 Art. 9, simplified to subjects and test scores):
    xuất sắc when every subject is T and every end-of-year test >= 9; tốt when every subject is T
    and every test >= 7; hoàn thành when no subject is C and every test >= 5; otherwise chưa."""
    marks = list(marks)
    if not marks:
        return "chua_hoan_thanh"
    ratings = [m.rating for m in marks]
    scores = [m.score for m in marks if m.score is not None]
    all_t = all(r == "T" for r in ratings)
    if all_t and all(s >= 9 for s in scores):
        return "hoan_thanh_xuat_sac"
    if all_t and all(s >= 7 for s in scores):
        return "hoan_thanh_tot"
    if all(r in ("T", "H") for r in ratings) and all(s >= 5 for s in scores):
        return "hoan_thanh"
    return "chua_hoan_thanh"


def completes_programme(level: str) -> bool:
    """A student completes the grade's programme unless the result is Chưa hoàn thành (Art. 11)."""
    return level != "chua_hoan_thanh"
