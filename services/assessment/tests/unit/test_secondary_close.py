"""Secondary school (TT22/2021) end to end in the use cases: assessments in, the year closed,
the records' averages, results, titles and promotion, the summer re-assessment; and primary
qualities, competencies and attendance in the record."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import (  # noqa: E402
    FakeMarkStore,
    FakeStore,
    full_year,
    klass,
    school,
    secondary_year,
    student,
)
from hocba_assessment.application.intake import Item  # noqa: E402
from hocba_assessment.application.use_cases import AssessmentService  # noqa: E402
from hocba_assessment.domain.model import (  # noqa: E402
    IncompleteAssessments,
    InvalidAssessment,
    RosterEntry,  # noqa: E402
)
from hocba_contracts.payloads import assessment as ev  # noqa: E402
from hocba_contracts.payloads.common import ClassProfile, StudentProfile  # noqa: E402

pytestmark = pytest.mark.unit


async def setup(grade: int) -> tuple[AssessmentService, FakeStore, ClassProfile]:
    store = FakeStore()
    svc = AssessmentService(store, FakeMarkStore(store))
    cls = klass(grade=grade)
    await svc.record_class(cls.class_id, grade)
    return svc, store, cls


async def enrol(svc: AssessmentService, cls: ClassProfile, *pupils: StudentProfile) -> None:
    await svc.record_roster([], [(RosterEntry(p, school(), cls), None) for p in pupils])


def records(store: FakeStore) -> dict[str, ev.YearRecordClosed]:
    return {
        e.data.student.student_id: e.data
        for _, e in store.emitted
        if isinstance(e.data, ev.YearRecordClosed)
    }


async def test_a_lower_secondary_class_closes_with_averages_results_titles_and_promotion() -> None:
    svc, store, cls = await setup(7)
    good, best, weak, absent, unruly = (student() for _ in range(5))
    await enrol(svc, cls, good, best, weak, absent, unruly)
    feed = [
        *secondary_year(cls, good.student_id, 8.5),
        *secondary_year(cls, best.student_id, 9.0),
        *secondary_year(cls, weak.student_id, 8.5, overrides={"TOAN": 3.0, "NV": 3.0}),
        *secondary_year(cls, absent.student_id, 8.5),
        *secondary_year(cls, unruly.student_id, 8.5, conduct=("dat", "chua_dat")),
        ev.AttendanceReported(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=absent.student_id,
            days_absent=46,
        ),
    ]
    outcomes = await svc.ingest([(f"e{i}", item) for i, item in enumerate(feed)])
    assert {o.status for o in outcomes} == {"accepted"}
    assert await svc.close_class(cls.class_id, cls.school_year, "GV-01") == 5
    out = records(store)
    r = out[good.student_id].result
    assert (r.rules, r.level, r.conduct, r.commendation, r.promotion, r.completed_programme) == (
        "TT22/2021",
        "tot",
        "tot",
        "Học sinh Giỏi",
        "len_lop",
        True,
    )
    toan = next(s for s in out[good.student_id].subjects if s.subject_code == "TOAN")
    assert (toan.term1_average, toan.term2_average, toan.year_average, toan.result_label) == (
        8.5,
        8.5,
        8.5,
        "8.5",
    )
    assert toan.teacher_id == "GV-TOAN"  # who assessed the end of term II signs for the subject
    gdtc = next(s for s in out[good.student_id].subjects if s.subject_code == "GDTC")
    assert (gdtc.passed, gdtc.result_label, gdtc.year_average) == (True, "Đạt", None)
    assert out[best.student_id].result.commendation == "Học sinh Xuất sắc"
    w = out[weak.student_id].result
    assert (w.level, w.promotion, w.retake_subjects, w.completed_programme) == (
        "chua_dat",
        "kiem_tra_lai",
        ("NV", "TOAN"),
        False,
    )
    a = out[absent.student_id].result
    assert (a.level, a.promotion, a.days_absent) == ("tot", "o_lai_lop", 46)
    u = out[unruly.student_id].result
    assert (u.conduct_term1, u.conduct_term2, u.conduct, u.promotion, u.commendation) == (
        "dat",
        "chua_dat",
        "chua_dat",
        "ren_luyen_he",
        None,
    )


async def test_summer_retake_and_conduct_training_re_assess_the_student_and_emit_a_new_version() -> (
    None
):
    svc, store, cls = await setup(8)
    weak, unruly, good = student(), student(), student()
    await enrol(svc, cls, weak, unruly, good)
    feed = [
        *secondary_year(cls, weak.student_id, 8.5, overrides={"TOAN": 3.0, "NV": 3.0}),
        *secondary_year(cls, unruly.student_id, 8.5, conduct=("dat", "chua_dat")),
        *secondary_year(cls, good.student_id),
    ]
    await svc.ingest([(f"e{i}", item) for i, item in enumerate(feed)])
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    # Only the subjects the student was sent to retake, each of them, and no conduct.
    with pytest.raises(InvalidAssessment, match="NV, TOAN"):
        await svc.reassess(
            cls.class_id, cls.school_year, weak.student_id, "GV-TOAN", {"TOAN": 6}, None
        )
    with pytest.raises(InvalidAssessment, match="at most one decimal"):
        await svc.reassess(
            cls.class_id, cls.school_year, weak.student_id, "GV-TOAN", {"TOAN": 6.25, "NV": 5}, None
        )
    with pytest.raises(InvalidAssessment, match="not sent to a summer"):
        await svc.reassess(cls.class_id, cls.school_year, good.student_id, "GV-01", {}, "tot")
    before = len(store.emitted)
    assert (
        await svc.reassess(
            cls.class_id, cls.school_year, weak.student_id, "GV-TOAN", {"TOAN": 5, "NV": 6}, None
        )
        == 1
    )
    assert (
        await svc.reassess(cls.class_id, cls.school_year, unruly.student_id, "GV-01", {}, "dat")
        == 1
    )
    again = await svc.reassess(cls.class_id, cls.school_year, unruly.student_id, "GV-01", {}, "dat")
    assert again == 0  # re-sent: nothing changes
    after = {e.data.student.student_id: e.data for _, e in store.emitted[before:]}
    w = after[weak.student_id]
    assert (w.record_version, w.result.reassessed, w.result.promotion, w.result.level) == (
        2,
        True,
        "len_lop",
        "kha",
    )
    assert w.result.retake_subjects == (
        "NV",
        "TOAN",
    )  # still stated: the record says what was retaken
    u = after[unruly.student_id]
    assert (u.record_version, u.result.reassessed, u.result.promotion) == (2, True, "len_lop")
    assert [e.action for e in store.audit].count("summer_reassessment") == 3


async def test_a_secondary_student_missing_assessments_gets_no_record_and_each_gap_is_named() -> (
    None
):
    svc, store, cls = await setup(10)
    done, gaps, no_electives = student(), student(), student()
    await enrol(svc, cls, done, gaps, no_electives)
    feed = [
        *secondary_year(cls, done.student_id),
        *secondary_year(cls, gaps.student_id, skip={("TOAN", "regular_2_3"), ("LS", "end_term_1")}),
        *secondary_year(cls, no_electives.student_id, electives=("VL",)),
    ]
    await svc.ingest([(f"e{i}", item) for i, item in enumerate(feed)])
    missing = await svc.incomplete(cls.class_id, cls.school_year)
    assert set(missing) == {gaps.student_id, no_electives.student_id}
    text = {p.field: p.problem for p in missing[gaps.student_id]}
    assert "regular_2_3" in text["TOAN"] and "3 of 4 regular" in text["TOAN"]
    assert "end_term_1" in text["LS"]
    assert "4 elective subjects" in missing[no_electives.student_id][0].problem
    # The close is refused, whoever asks, naming each gap; nothing is locked, the trail says why.
    with pytest.raises(IncompleteAssessments) as refused:
        await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    assert refused.value.code == "incomplete_assessments"
    assert {(d["student_id"], d["field"]) for d in refused.value.details} == {
        (gaps.student_id, "TOAN"),
        (gaps.student_id, "LS"),
        (no_electives.student_id, "subject_code"),
    }
    assert (cls.class_id, cls.school_year) not in store.closures and records(store) == {}
    [entry] = store.audit
    assert (entry.action, entry.by) == ("close_refused", "GV-01")
    assert (
        gaps.student_id in entry.reason
        and "regular_2_3" in entry.reason
        and "end_term_1" in entry.reason
    )
    assert no_electives.student_id in entry.reason and gaps.full_name not in entry.reason
    # Closed all the same on request: those students get no record.
    assert (
        await svc.close_class(cls.class_id, cls.school_year, "GV-01", even_if_incomplete=True) == 1
    )
    assert set(records(store)) == {done.student_id}
    assert [e.action for e in store.audit] == ["close_refused", "close"]


async def test_each_secondary_item_is_checked_against_the_class_and_named() -> None:
    svc, _, cls = await setup(9)
    primary_cls = klass(grade=4)
    await svc.record_class(primary_cls.class_id, 4)
    pupil = student().student_id

    def sec(**kw: object) -> ev.SecondaryAssessmentSubmitted:
        base = {
            "class_id": cls.class_id,
            "school_year": cls.school_year,
            "student_id": pupil,
            "subject_code": "TOAN",
            "term": 1,
            "kind": "regular",
            "index": 1,
            "score": 7.5,
        }
        return ev.SecondaryAssessmentSubmitted(**{**base, **kw})

    items: list[Item] = [
        sec(),  # fine
        sec(score=7.25),  # two decimals
        sec(subject_code="GDTC", score=8.0),  # comment subject given a score
        sec(index=5),  # Toán has 4 regular assessments a term
        sec(subject_code="VL"),  # grade 9 has no Vật lí (KHTN instead)
        sec(class_id=primary_cls.class_id),  # a primary class
        ev.ConductAssessed(
            class_id=primary_cls.class_id,
            school_year=cls.school_year,
            student_id=pupil,
            term=1,
            level="tot",
        ),  # primary has no conduct
        ev.QualitiesAssessed(
            class_id=primary_cls.class_id,
            school_year=cls.school_year,
            student_id=pupil,
            period="end_of_year",
            qualities={"dung_cam": "T"},
        ),  # no such quality
    ]
    outcomes = await svc.ingest([(f"e{i}", item) for i, item in enumerate(items)])
    assert [o.status for o in outcomes] == ["accepted"] + ["rejected"] * 7
    said = [(o.problems[0].field, o.problems[0].problem) for o in outcomes[1:]]
    assert said[0][0] == "score" and "one decimal" in said[0][1]
    assert said[1][0] == "score" and "by comment" in said[1][1]
    assert said[2][0] == "index" and "1 to 4" in said[2][1]
    assert said[3][0] == "subject_code" and "grade 9 has no subject VL" in said[3][1]
    assert said[4][0] == "class_id" and "primary grade" in said[4][1]
    assert said[5][0] == "class_id" and "not conduct" in said[5][1]
    assert said[6][0] == "qualities" and "dung_cam is not a quality" in said[6][1]


async def test_primary_qualities_competencies_and_attendance_count_in_the_record() -> None:
    svc, store, cls = await setup(5)
    star, careless = student(), student()
    await enrol(svc, cls, star, careless)
    all_t = {
        "qualities": {
            "yeu_nuoc": "T",
            "nhan_ai": "T",
            "cham_chi": "T",
            "trung_thuc": "T",
            "trach_nhiem": "T",
        },
        "competencies": {"tu_chu_tu_hoc": "T", "ngon_ngu": "T", "tinh_toan": "T"},
    }
    feed: list[Item] = [
        *full_year(cls, star.student_id, "T", 10),
        *full_year(cls, careless.student_id, "T", 10),
        ev.QualitiesAssessed(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=star.student_id,
            period="end_of_year",
            comment="Em chăm ngoan",
            **all_t,
        ),
        ev.QualitiesAssessed(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=careless.student_id,
            period="end_of_year",
            **{**all_t, "qualities": {**all_t["qualities"], "cham_chi": "C"}},
        ),
        ev.AttendanceReported(
            class_id=cls.class_id,
            school_year=cls.school_year,
            student_id=star.student_id,
            days_absent=3,
        ),
    ]
    assert {
        o.status for o in await svc.ingest([(f"e{i}", item) for i, item in enumerate(feed)])
    } == {"accepted"}
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    out = records(store)
    s = out[star.student_id].result
    assert (s.level, s.commendation, s.completed_primary, s.days_absent) == (
        "hoan_thanh_xuat_sac",
        "Học sinh Xuất sắc",
        True,
        3,
    )
    assert [(q.code, q.level_label) for q in s.qualities][:2] == [
        ("yeu_nuoc", "Tốt"),
        ("nhan_ai", "Tốt"),
    ]
    assert {c.code for c in s.competencies} == {"tu_chu_tu_hoc", "ngon_ngu", "tinh_toan"}
    c = out[careless.student_id].result
    assert (c.level, c.completed_programme, c.commendation) == ("chua_hoan_thanh", False, None)
    assert ("cham_chi", "C") in [(q.code, q.level) for q in c.qualities]
