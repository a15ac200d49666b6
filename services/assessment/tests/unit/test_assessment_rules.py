"""Primary evaluation rules (TT27/2020, simplified) and the use cases with an in-memory store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import FakeMarkStore, FakeStore, full_year, klass, mark, school, student  # noqa: E402
from hocba_assessment.application.use_cases import AssessmentService  # noqa: E402
from hocba_assessment.domain.model import (
    ClassClosed,  # noqa: E402
    RosterEntry,  # noqa: E402
)
from hocba_assessment.domain.primary import SubjectMark, check_mark, subjects_for, year_level  # noqa: E402
from hocba_contracts.payloads.assessment import YearRecordClosed  # noqa: E402

pytestmark = pytest.mark.unit


def marks(ratings: str, scores: list[float]) -> list[SubjectMark]:
    out = [SubjectMark(f"S{i}", r, None) for i, r in enumerate(ratings)]
    out += [
        SubjectMark(f"X{i}", "T" if "C" not in ratings and "H" not in ratings else "H", s)
        for i, s in enumerate(scores)
    ]
    return out


@pytest.mark.parametrize(
    ("ratings", "scores", "level"),
    [
        ("TTT", [9, 10], "hoan_thanh_xuat_sac"),
        ("TTT", [9, 8], "hoan_thanh_tot"),  # a test below 9 drops xuất sắc
        ("TTT", [7, 7], "hoan_thanh_tot"),  # 7 is enough for tốt
        ("TTT", [6, 10], "hoan_thanh"),  # below 7: hoàn thành
        ("THT", [10, 10], "hoan_thanh"),  # one H: at most hoàn thành
        ("HHH", [5, 5], "hoan_thanh"),  # 5 is enough for hoàn thành
        ("HHH", [4, 9], "chua_hoan_thanh"),  # a test below 5
        ("TCT", [10, 10], "chua_hoan_thanh"),  # one C
    ],
)
def test_year_level_boundaries(ratings: str, scores: list[float], level: str) -> None:
    assert year_level(marks(ratings, scores)) == level


@given(
    st.lists(st.sampled_from("THC"), min_size=1, max_size=10),
    st.lists(st.integers(0, 10), min_size=0, max_size=6),
    st.data(),
)
def test_raising_one_score_never_lowers_the_level(
    ratings: list[str], scores: list[int], data: st.DataObject
) -> None:
    order = ["chua_hoan_thanh", "hoan_thanh", "hoan_thanh_tot", "hoan_thanh_xuat_sac"]
    base = [SubjectMark(f"S{i}", r, None) for i, r in enumerate(ratings)] + [
        SubjectMark(f"X{i}", "T", float(s)) for i, s in enumerate(scores)
    ]
    if not scores:
        return
    i = data.draw(st.integers(0, len(scores) - 1))
    raised = list(base)
    j = len(ratings) + i
    raised[j] = SubjectMark(raised[j].subject_code, "T", min(10.0, (raised[j].score or 0) + 1))
    assert order.index(year_level(raised)) >= order.index(year_level(base))


@pytest.mark.parametrize(
    ("grade", "subject", "period", "rating", "score", "field"),
    [
        (1, "KH", "end_of_year", "T", None, "subject_code"),  # Khoa học is a grade 4-5 subject
        (1, "TOAN", "end_of_year", "X", None, "rating"),
        (1, "TOAN", "end_of_year", "T", 11, "score"),
        (1, "TOAN", "end_of_year", "T", 7.5, "score"),  # whole numbers only
        (1, "DD", "end_of_year", "T", 8, "score"),  # Đạo đức has no test
        (1, "TOAN", "mid_term_1", "T", 8, "score"),  # mid-term tests only in grades 4-5
        (1, "TOAN", "end_of_year", None, None, "rating"),
    ],
)
def test_check_mark_names_the_field(
    grade: int, subject: str, period: str, rating: str | None, score: float | None, field: str
) -> None:
    problems = check_mark(grade, subject, period, rating, score)
    assert field in {p.field for p in problems}


def test_valid_marks_pass() -> None:
    assert check_mark(5, "TOAN", "mid_term_1", "T", 8) == []
    assert check_mark(3, "TA", "end_of_year", "H", 6) == []
    assert subjects_for(5)[0] == "TV"


async def test_batch_keeps_good_items_and_reports_bad_ones_by_ids() -> None:
    store = FakeStore()
    service = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=1)
    await service.record_class(cls.class_id, 1)
    good = mark(cls, "HS1", "TOAN", "T", 9)
    bad = mark(cls, "HS1", "KH", "T", None)
    result = await service.submit([good, bad])
    assert result.accepted == 1
    assert [(r.index, r.student_id, r.subject_code, r.field) for r in result.rejected] == [
        (1, "HS1", "KH", "subject_code")
    ]
    again = await service.submit([good])
    assert again.accepted == 0 and again.unchanged == 1


async def test_close_emits_one_record_per_student_once_and_locks_the_class() -> None:
    store = FakeStore()
    service = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=1)
    a, b = student(), student()
    for s in (a, b):
        await service.record_enrollment(RosterEntry(s, school(), cls))
    await service.submit(
        [*full_year(cls, a.student_id), *full_year(cls, b.student_id, rating="H", score=6)]
    )
    assert await service.close_class(cls.class_id, cls.school_year, "GV-01") == 2
    assert await service.close_class(cls.class_id, cls.school_year, "GV-01") == 0
    records = [e.data for _, e in store.emitted]
    assert all(isinstance(r, YearRecordClosed) for r in records)
    levels = {r.student.student_id: r.result.level for r in records}
    assert levels == {a.student_id: "hoan_thanh_xuat_sac", b.student_id: "hoan_thanh"}
    assert records[0].subjects[0].subject_name == "Tiếng Việt"
    other = klass(grade=1)
    with pytest.raises(ClassClosed) as refused:
        await service.submit(
            [mark(other, a.student_id, "TOAN", "T", 9), mark(cls, a.student_id, "TOAN", "H", 5)]
        )
    assert refused.value.code == "class_closed" and cls.class_id in str(refused.value)
    assert not [
        m for m in store.marks.values() if m.class_id == other.class_id
    ]  # the whole batch is refused


async def test_enrollment_arriving_after_the_close_still_gets_its_record() -> None:
    store = FakeStore()
    service = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=5)
    s = student()
    await service.submit([*full_year(cls, s.student_id, score=8)])
    await service.close_class(cls.class_id, cls.school_year, "GV-01")
    assert store.emitted == []
    assert await service.record_enrollment(RosterEntry(s, school(), cls)) == 1
    assert store.emitted[0][1].data.result.level == "hoan_thanh_tot"


async def test_corrections_are_audited_and_an_unlock_gives_a_new_version_only_where_results_change() -> (
    None
):
    from hocba_assessment.domain.model import ClassClosed, ClassNotClosed, InvalidAssessment

    store = FakeStore()
    service = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=1)
    a, b = student(), student()
    for s in (a, b):
        await service.record_enrollment(RosterEntry(s, school(), cls))
    await service.submit([*full_year(cls, a.student_id), *full_year(cls, b.student_id)])
    first = mark(cls, a.student_id, "TOAN", "T", 9)
    changed = first.model_copy(update={"score": 10.0, "submitted_by": "GV-01"})
    await service.submit([changed], reason="nhập nhầm điểm")
    entry = store.audit[-1]
    assert entry.old is not None and entry.new is not None
    assert (entry.action, entry.by, entry.old["score"], entry.new["score"], entry.reason) == (
        "correction",
        "GV-01",
        9,
        10.0,
        "nhập nhầm điểm",
    )

    assert await service.close_class(cls.class_id, cls.school_year, "GV-01") == 2
    with pytest.raises(ClassClosed):
        await service.submit([mark(cls, a.student_id, "TOAN", "H", 6)])
    with pytest.raises(InvalidAssessment):
        await service.unlock(cls.class_id, cls.school_year, "ADMIN-1", " ")
    await service.unlock(cls.class_id, cls.school_year, "ADMIN-1", "phúc khảo môn Toán")
    with pytest.raises(ClassNotClosed):
        await service.unlock(cls.class_id, cls.school_year, "ADMIN-1", "again")
    await service.submit([mark(cls, a.student_id, "TOAN", "H", 6)], reason="phúc khảo")
    assert (
        await service.close_class(cls.class_id, cls.school_year, "GV-01") == 1
    )  # only a's results changed
    versions = [
        (e.data.student.student_id, e.data.record_version, e.data.result.level)
        for _, e in store.emitted
    ]
    assert versions[-1] == (a.student_id, 2, "hoan_thanh")
    assert [e.action for e in store.audit] == [
        "correction",
        "close",
        "unlock",
        "correction",
        "close",
    ]


async def test_http_style_input_refuses_students_not_enrolled_in_the_class() -> None:
    store = FakeStore()
    service = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=1)
    enrolled = student()
    await service.record_enrollment(RosterEntry(enrolled, school(), cls))
    result = await service.submit(
        [mark(cls, enrolled.student_id, "TOAN", "T", 9), mark(cls, "HS-STRANGER", "TOAN", "T", 9)],
        check_enrollment=True,
    )
    assert result.accepted == 1
    assert [(r.index, r.student_id, r.field) for r in result.rejected] == [
        (1, "HS-STRANGER", "student_id")
    ]
