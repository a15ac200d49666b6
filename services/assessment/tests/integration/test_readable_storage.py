"""Assessment's documents are readable in MongoDB (sub-documents with named fields, a schema version),
an operator's plain query finds one student's marks in one subject, and documents stored in the
earlier binary forms are rewritten on start."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import bson
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from assessment_fixtures import full_year, klass, school, student  # noqa: E402
from hocba_assessment.adapters.mongo_assessment import (  # noqa: E402
    MARKS_SCHEMA_VERSION,
    SCHEMA_VERSION,
    ensure_indexes,
    migrate_mark_kinds,
    migrate_readable_storage,
)
from hocba_assessment.bootstrap import Assessment, build  # noqa: E402
from hocba_assessment.config import AssessmentSettings  # noqa: E402
from hocba_assessment.domain.marks import (  # noqa: E402
    Attendance,
    Conduct,
    Mark,
    SubjectAssessment,
    Trait,
    mark_key,
)
from hocba_assessment.domain.model import LockedRecord, RosterEntry, StoredMark  # noqa: E402

pytestmark = pytest.mark.integration


def opaque(value: Any, path: str = "") -> list[str]:
    """Where a document holds bytes or a string that is a JSON object or array."""
    if isinstance(value, bytes):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in opaque(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in opaque(v, f"{path}[{i}]")]
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            json.loads(value)
        except ValueError:
            return []
        return [path]
    return []


def record(cls: Any, student_id: str) -> LockedRecord:
    return LockedRecord(
        f"R-{student_id}",
        1,
        student_id,
        cls.class_id,
        cls.school_year,
        "secondary",
        "Tốt",
        "ab" * 32,
        "hoc_sinh_gioi",
        "kiem_tra_lai",
        "Kiểm tra lại",
        ("TOAN", "NGU.VAN"),
        False,
    )


async def test_marks_rosters_and_records_are_sub_documents_and_one_subject_of_a_student_is_a_plain_query(
    assessment: Assessment,
) -> None:
    cls, pupil, other = klass(grade=7), student(), student()
    store, db = assessment.service.store, assessment.runtime.mongo.db
    await store.save_rosters([RosterEntry(s, school(), cls) for s in (pupil, other)])
    marks: list[Mark] = [
        SubjectAssessment(
            cls.class_id,
            cls.school_year,
            s.student_id,
            subject,
            period,
            None,
            score,
            "Cố gắng",
            "GV-01",
        )
        for s in (pupil, other)
        for subject, score in (("TOAN", 8.5), ("NGU.VAN", 6.0))
        for period in ("end_term_1", "end_of_year")
    ]
    marks += [
        Conduct(cls.class_id, cls.school_year, pupil.student_id, "term_1", "kha", "", "GV-01"),
        Attendance(cls.class_id, cls.school_year, pupil.student_id, "year", 4, "GV-01"),
    ]
    await store.write({m.key: StoredMark(m, ("ev-1",)) for m in marks})
    async with assessment.service.uow() as tx:
        await tx.locked_of({(cls.class_id, cls.school_year)})
        await tx.lock_many([record(cls, pupil.student_id), record(cls, other.student_id)], [])

    # The operator notes' query (README): one student's marks in one subject.
    found = await db.student_marks.find(
        {"student_id": pupil.student_id},
        {"_id": 0, "class_id": 1, "school_year": 1, "marks.TOAN": 1},
    ).to_list(None)
    assert found == [
        {
            "class_id": cls.class_id,
            "school_year": cls.school_year,
            "marks": {
                "TOAN": {
                    period: {
                        "subject_code": "TOAN",
                        "period": period,
                        "rating": None,
                        "score": 8.5,
                        "comment": "Cố gắng",
                        "submitted_by": "GV-01",
                        "events": ["ev-1"],
                    }
                    for period in ("end_term_1", "end_of_year")
                }
            },
        }
    ]
    # Each kind of mark has its own map: the student's conduct is a plain query too.
    conduct = await db.student_marks.find_one(
        {"student_id": pupil.student_id}, {"_id": 0, "conduct": 1, "attendance": 1}
    )
    assert conduct == {
        "conduct": {
            "term_1": {
                "period": "term_1",
                "level": "kha",
                "comment": "",
                "submitted_by": "GV-01",
                "events": ["ev-1"],
            }
        },
        "attendance": {
            "year": {"period": "year", "days": 4, "submitted_by": "GV-01", "events": ["ev-1"]}
        },
    }
    # A subject code with a dot is escaped in the field name and kept as it is in the mark.
    literature = await db.student_marks.find_one(
        {"student_id": pupil.student_id}, {"marks.NGU%2EVAN.end_of_year": 1}
    )
    assert literature is not None
    assert literature["marks"]["NGU%2EVAN"]["end_of_year"]["subject_code"] == "NGU.VAN"
    # Scores are queryable: who scored below 7 in literature at the end of the year.
    below = await db.student_marks.distinct(
        "student_id", {"class_id": cls.class_id, "marks.NGU%2EVAN.end_of_year.score": {"$lt": 7}}
    )
    assert sorted(below) == sorted([pupil.student_id, other.student_id])

    roster = await db.class_rosters.find_one({"_id": f"{cls.class_id}|{cls.school_year}"})
    assert roster is not None
    assert roster["students"][pupil.student_id]["full_name"] == pupil.full_name
    assert roster["students"][pupil.student_id]["date_of_birth"] == pupil.date_of_birth.isoformat()
    records = await db.class_records.find_one({"_id": f"{cls.class_id}|{cls.school_year}"})
    assert records is not None
    assert records["records"][pupil.student_id]["retake_subjects"] == ["TOAN", "NGU.VAN"]
    assert records["records"][pupil.student_id]["promotion"] == "kiem_tra_lai"

    for name in (
        "student_marks",
        "class_rosters",
        "class_records",
        "classes",
        "audit",
        "migrations",
    ):
        async for doc in db[name].find({}):
            assert opaque(doc) == [], (name, opaque(doc))
            assert "schema_version" in doc, name
    assert (
        await db.student_marks.count_documents({"schema_version": {"$ne": MARKS_SCHEMA_VERSION}})
        == 0
    )
    for name in ("class_rosters", "class_records"):
        assert await db[name].count_documents({"schema_version": {"$ne": SCHEMA_VERSION}}) == 0
    indexes = {
        tuple(k for k, _ in i["key"]) for i in (await db.student_marks.index_information()).values()
    }
    assert {("class_id", "school_year"), ("student_id",)} <= indexes

    reader = assessment.app.state.reader
    assert sorted(await reader.marks(cls.class_id, cls.school_year), key=lambda m: m.key) == sorted(
        marks, key=lambda m: m.key
    )
    assert [e.student for e in await reader.roster(cls.class_id, cls.school_year)] == sorted(
        [pupil, other], key=lambda s: s.student_id
    )
    assert {r.student_id: r for r in await reader.records(cls.class_id, cls.school_year)}[
        pupil.student_id
    ] == record(cls, pupil.student_id)


async def test_documents_of_the_binary_schema_are_rewritten_on_start_once_and_read_the_same(
    assessment: Assessment,
) -> None:
    cls, pupil = klass(grade=8), student()
    db, mongo = assessment.runtime.mongo.db, assessment.runtime.mongo
    doc_id, class_doc = (
        f"{cls.class_id}|{cls.school_year}|{pupil.student_id}",
        f"{cls.class_id}|{cls.school_year}",
    )
    owner = {"class_id": cls.class_id, "school_year": cls.school_year}
    math = {
        "subject_code": "TOAN",
        "period": "end_of_year",
        "rating": None,
        "score": 9.0,
        "comment": "Giỏi",
        "submitted_by": "GV-01",
        "events": ["ev-0", "ev-1"],
    }
    old_literature: dict[str, Any] = {
        "subject_code": "NGU.VAN",
        "period": "end_term_1",
        "rating": None,
        "score": 5.5,
        "comment": "",
        "submitted_by": None,
        "events": [],
    }
    # As the service stored them before: each mark BSON in a binary (or, earlier still, a
    # sub-document under "subject|period"), each student JSON in a binary, each record BSON.
    await db.student_marks.insert_one(
        {
            "_id": doc_id,
            **owner,
            "student_id": pupil.student_id,
            "marks": {
                "TOAN|end_of_year": bson.encode(math),
                "NGU%2EVAN|end_term_1": old_literature,
            },
        }
    )
    await db.class_rosters.insert_one(
        {
            "_id": class_doc,
            **owner,
            "school": school().model_dump(mode="json"),
            "class_info": cls.model_dump(mode="json"),
            "students": {pupil.student_id: pupil.model_dump_json().encode()},
        }
    )
    locked = record(cls, pupil.student_id)
    await db.class_records.insert_one(
        {
            "_id": class_doc,
            **owner,
            "records": {
                pupil.student_id: bson.encode(
                    {**vars(locked), "retake_subjects": list(locked.retake_subjects)}
                )
            },
        }
    )

    await db.migrations.delete_one(
        {"_id": "readable_storage_v2"}
    )  # as on a database of the earlier schema
    await ensure_indexes(mongo)
    assert await migrate_readable_storage(mongo) == 0  # once: the marker stands
    await db.migrations.delete_one({"_id": "readable_storage_v2"})
    assert await migrate_readable_storage(mongo) == 0  # and again: nothing is left untagged

    stored = await db.student_marks.find_one({"_id": doc_id})
    assert stored is not None
    assert stored["schema_version"] == MARKS_SCHEMA_VERSION
    assert stored["marks"] == {
        "TOAN": {"end_of_year": math},
        "NGU%2EVAN": {"end_term_1": old_literature},
    }
    assert opaque(stored) == []
    for name in ("class_rosters", "class_records"):
        doc = await db[name].find_one({"_id": {"$in": [doc_id, class_doc]}})
        assert doc is not None, name
        assert opaque(doc) == [] and doc["schema_version"] == SCHEMA_VERSION, name

    reader = assessment.app.state.reader
    assert {
        (m.subject_code, m.score) for m in await reader.marks(cls.class_id, cls.school_year)
    } == {("TOAN", 9.0), ("NGU.VAN", 5.5)}
    assert [e.student for e in await reader.roster(cls.class_id, cls.school_year)] == [pupil]
    assert await reader.records(cls.class_id, cls.school_year) == [locked]
    key = mark_key(
        cls.class_id, cls.school_year, pupil.student_id, "subject", "TOAN", "end_of_year"
    )
    assert (await assessment.service.store.stored([key]))[key].events == ("ev-0", "ev-1")
    async with assessment.service.uow() as tx:
        assert await tx.roster_ids(cls.class_id, cls.school_year) == {pupil.student_id}
        got = await tx.get_mark(key)
        assert isinstance(got, SubjectAssessment)
        assert got.comment == "Giỏi"


def v2_slot(code: str, period: str, **values: Any) -> dict[str, Any]:
    """A mark as schema 2 stored it: every kind as a subject, pseudo subjects for all but subjects."""
    return {
        "subject_code": code,
        "period": period,
        "rating": None,
        "score": None,
        "comment": "",
        "submitted_by": "GV-01",
        "events": [f"ev-{code}-{period}"],
        **values,
    }


async def test_marks_of_schema_2_become_a_map_a_kind_on_start_and_read_the_same(
    assessment: Assessment,
) -> None:
    primary_cls, secondary_cls, pupil = klass(grade=3), klass(grade=8), student()
    db, mongo = assessment.runtime.mongo.db, assessment.runtime.mongo

    def doc(cls: Any, marks: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {
            "_id": f"{cls.class_id}|{cls.school_year}|{pupil.student_id}",
            "schema_version": 2,
            "class_id": cls.class_id,
            "school_year": cls.school_year,
            "student_id": pupil.student_id,
            "marks": marks,
        }

    math = v2_slot("TOAN", "end_of_year", rating="T", score=9.0, comment="Giỏi")
    await db.student_marks.insert_many(
        [
            doc(
                primary_cls,
                {
                    "TOAN": {"end_of_year": math},
                    "_trait:cham_chi": {
                        "end_of_year": v2_slot("_trait:cham_chi", "end_of_year", rating="T")
                    },
                    "_trait:tu_chu_tu_hoc": {
                        "end_of_year": v2_slot("_trait:tu_chu_tu_hoc", "end_of_year", rating="D"),
                        "mid_term_1": v2_slot("_trait:tu_chu_tu_hoc", "mid_term_1", rating="C"),
                    },
                    "_traits": {
                        "end_of_year": v2_slot("_traits", "end_of_year", comment="Chăm ngoan")
                    },
                    "_absent": {"year": v2_slot("_absent", "year", score=3.0)},
                },
            ),
            doc(
                secondary_cls,
                {
                    "NGU%2EVAN": {
                        "end_term_1": v2_slot("NGU.VAN", "end_term_1", score=6.5),
                    },
                    "_conduct": {
                        "term_1": v2_slot("_conduct", "term_1", rating="kha", comment="Tiến bộ"),
                        "summer": v2_slot("_conduct", "summer", rating="dat"),
                    },
                },
            ),
        ]
    )
    await db.migrations.delete_one({"_id": "mark_kinds_v3"})  # as on a database of schema 2
    settings = assessment.runtime.settings
    assert isinstance(settings, AssessmentSettings)
    restarted = build(settings)  # a replica starting on this database
    await restarted.runtime.start()
    await restarted.runtime.stop()
    assert await db.migrations.find_one({"_id": "mark_kinds_v3"}, {"documents": 1}) == {
        "_id": "mark_kinds_v3",
        "documents": 2,
    }
    assert await migrate_mark_kinds(mongo) == 0  # once: the marker stands
    await db.migrations.delete_one({"_id": "mark_kinds_v3"})
    assert await migrate_mark_kinds(mongo) == 0  # and again: nothing of schema 2 is left

    first = await db.student_marks.find_one(
        {"_id": f"{primary_cls.class_id}|{primary_cls.school_year}|{pupil.student_id}"}
    )
    assert first is not None
    assert first["schema_version"] == MARKS_SCHEMA_VERSION and opaque(first) == []
    assert first["marks"] == {"TOAN": {"end_of_year": math}}
    assert first["traits"]["cham_chi"]["end_of_year"] == {
        "code": "cham_chi",
        "period": "end_of_year",
        "level": "T",
        "comment": "Chăm ngoan",  # the period's comment on qualities and competencies
        "submitted_by": "GV-01",
        "events": ["ev-_trait:cham_chi-end_of_year"],
    }
    assert first["traits"]["tu_chu_tu_hoc"]["mid_term_1"]["comment"] == ""
    assert first["attendance"] == {
        "year": {
            "period": "year",
            "days": 3,
            "submitted_by": "GV-01",
            "events": ["ev-_absent-year"],
        }
    }
    assert first["conduct"] == {}
    second = await db.student_marks.find_one(
        {"_id": f"{secondary_cls.class_id}|{secondary_cls.school_year}|{pupil.student_id}"}
    )
    assert second is not None
    assert second["conduct"]["term_1"] == {
        "period": "term_1",
        "level": "kha",
        "comment": "Tiến bộ",
        "submitted_by": "GV-01",
        "events": ["ev-_conduct-term_1"],
    }
    assert set(second["marks"]) == {"NGU%2EVAN"} and second["traits"] == {}

    reader = assessment.app.state.reader
    c, y, s = primary_cls.class_id, primary_cls.school_year, pupil.student_id
    expected: list[Mark] = [
        SubjectAssessment(c, y, s, "TOAN", "end_of_year", "T", 9.0, "Giỏi", "GV-01"),
        Trait(c, y, s, "cham_chi", "end_of_year", "T", "Chăm ngoan", "GV-01"),
        Trait(c, y, s, "tu_chu_tu_hoc", "end_of_year", "D", "Chăm ngoan", "GV-01"),
        Trait(c, y, s, "tu_chu_tu_hoc", "mid_term_1", "C", "", "GV-01"),
        Attendance(c, y, s, "year", 3, "GV-01"),
    ]
    assert sorted(await reader.marks(c, y), key=lambda m: m.key) == sorted(
        expected, key=lambda m: m.key
    )
    c, y = secondary_cls.class_id, secondary_cls.school_year
    assert {m for m in await reader.marks(c, y) if isinstance(m, Conduct)} == {
        Conduct(c, y, s, "term_1", "kha", "Tiến bộ", "GV-01"),
        Conduct(c, y, s, "summer", "dat", "", "GV-01"),
    }
    # The ids of the events applied stay with each mark: a redelivered one changes nothing.
    key = mark_key(c, y, s, "conduct", "", "term_1")
    assert (await assessment.service.store.stored([key]))[key].events == ("ev-_conduct-term_1",)


async def test_a_closure_and_the_unlock_it_follows_are_readable_and_an_older_closure_reads_as_none(
    assessment: Assessment,
) -> None:
    from datetime import UTC, datetime

    cls, pupil = klass(grade=1), student()
    svc, db = assessment.service, assessment.runtime.mongo.db
    await svc.record_enrollment(RosterEntry(pupil, school(), cls))
    await svc.submit([*full_year(cls, pupil.student_id)])
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    await svc.unlock(cls.class_id, cls.school_year, "079-TH-TEST-QT", "Sai điểm Toán cuối năm")
    await svc.close_class(cls.class_id, cls.school_year, "GV-01")
    key = {"_id": f"{cls.class_id}|{cls.school_year}"}
    # The operator's view: who reopened the class, why and when, in named fields.
    unlock = await db.unlocks.find_one(key, {"_id": 0, "at": 0})
    assert unlock == {
        "schema_version": 1,
        "class_id": cls.class_id,
        "school_year": cls.school_year,
        "approved_by": "079-TH-TEST-QT",
        "reason": "Sai điểm Toán cuối năm",
    }
    closure = await db.closures.find_one(key)
    assert closure is not None and closure["schema_version"] == 1
    assert {k: v for k, v in closure["after_unlock"].items() if k != "at"} == {
        "approved_by": "079-TH-TEST-QT",
        "reason": "Sai điểm Toán cuối năm",
    }
    assert await db.closures.count_documents({"after_unlock.reason": {"$regex": "Toán"}}) == 1
    for name in ("closures", "unlocks"):
        async for doc in db[name].find({}):
            assert opaque(doc) == [], (name, opaque(doc))
    # A closure as the service stored it before unlocks were kept: no after_unlock, read as none.
    old = klass(grade=1)
    closed_at = datetime(2025, 5, 30, 8, 0, tzinfo=UTC)
    await db.closures.insert_one(
        {
            "_id": f"{old.class_id}|{old.school_year}",
            "schema_version": 1,
            "class_id": old.class_id,
            "school_year": old.school_year,
            "requested_by": "GV-01",
            "closed_at": closed_at,
        }
    )
    read = await assessment.app.state.reader.closure(old.class_id, old.school_year)
    assert read is not None and (read.closed_at, read.after_unlock) == (closed_at, None)


async def test_classes_unlocked_before_unlocks_were_kept_get_their_latest_from_the_audit_once(
    assessment: Assessment,
) -> None:
    from datetime import UTC, datetime, timedelta

    from hocba_assessment.adapters.mongo_assessment import backfill_unlocks
    from hocba_assessment.domain.model import Unlock

    mongo, db = assessment.runtime.mongo, assessment.runtime.mongo.db
    twice, bad, kept = klass(grade=1), klass(grade=2), klass(grade=3)
    at = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)

    def entry(cls: Any, by: str, reason: str, when: datetime) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "class_id": cls.class_id,
            "school_year": cls.school_year,
            "action": "unlock",
            "by": by,
            "at": when,
            "key": None,
            "old": None,
            "new": None,
            "reason": reason,
        }

    # The audit trail as the service wrote it before (the newer entry first: order is by time).
    await db.audit.insert_many(
        [
            entry(
                twice, "079-TH-TEST-QT", "  Nhập nhầm lần hai " + "x" * 600, at + timedelta(days=3)
            ),
            entry(twice, "079-TH-TEST-QT", "Sai điểm Toán cuối năm", at),
            entry(bad, "079-TH-TEST-QT", "an older unlock's reason", at),
            entry(bad, "not a staff id!", "Sai điểm", at + timedelta(days=1)),
            entry(kept, "079-TH-TEST-QT", "older than the one kept", at),
            {**entry(twice, "GV-01", "", at + timedelta(days=9)), "action": "close"},
        ]
    )
    newer = Unlock("079-TH-TEST-QT2", "kept since", at + timedelta(days=1))
    async with assessment.service.uow() as tx:
        await tx.save_unlock(kept.class_id, kept.school_year, newer)
    await db.migrations.delete_one({"_id": "unlocks_from_audit"})  # the start found none
    assert await backfill_unlocks(mongo) == 1
    assert await backfill_unlocks(mongo) == 0  # once
    async with assessment.service.uow() as tx:
        found = await tx.unlocks_of({(c.class_id, c.school_year) for c in (twice, bad, kept)})
    assert found == {
        (twice.class_id, twice.school_year): Unlock(
            "079-TH-TEST-QT", ("Nhập nhầm lần hai " + "x" * 600)[:500], at + timedelta(days=3)
        ),
        (kept.class_id, kept.school_year): newer,
    }
    marker = await db.migrations.find_one({"_id": "unlocks_from_audit"})
    assert marker is not None and marker["class_years"] == 1
