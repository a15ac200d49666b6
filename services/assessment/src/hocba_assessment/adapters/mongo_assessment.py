"""Assessment in MongoDB: marks, roster, closures and locked records, written in the unit of work."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StudentProfile
from hocba_runtime.mongo import Mongo
from hocba_runtime.uow import MongoTransaction, MongoUnitOfWork, WrappedUnitOfWork
from pymongo import ASCENDING

from hocba_assessment.application.ports import AuditEntry, Closure, LockedRecord, Mark, RosterEntry


async def ensure_indexes(mongo: Mongo) -> None:
    db = mongo.db
    await db.marks.create_index([("class_id", ASCENDING), ("school_year", ASCENDING), ("student_id", ASCENDING)])
    await db.roster.create_index([("class_id", ASCENDING), ("school_year", ASCENDING)])
    await db.year_records.create_index([("class_id", ASCENDING), ("school_year", ASCENDING)])
    await db.audit.create_index([("class_id", ASCENDING), ("school_year", ASCENDING), ("at", ASCENDING)])


def _roster(doc: dict[str, Any]) -> RosterEntry:
    return RosterEntry(StudentProfile.model_validate(doc["student"]), SchoolProfile.model_validate(doc["school"]),
                       ClassProfile.model_validate(doc["class_info"]))


def _mark(doc: dict[str, Any]) -> Mark:
    return Mark(**{k: v for k, v in doc.items() if k != "_id"})


def _closure(doc: dict[str, Any] | None) -> Closure | None:
    if doc is None:
        return None
    return Closure(doc["class_id"], doc["school_year"], doc["requested_by"], doc["closed_at"])


class MongoAssessmentTx:
    def __init__(self, mongo: Mongo, tx: MongoTransaction) -> None:
        self.db = mongo.db
        self.tx = tx
        self.session = tx.session

    @property
    def duplicate(self) -> bool:
        return self.tx.duplicate

    async def emit(self, topic: str, envelope: Any) -> None:
        await self.tx.emit(topic, envelope)

    async def class_grade(self, class_id: str) -> int | None:
        doc = await self.db.classes.find_one({"_id": class_id}, session=self.session)
        return int(doc["grade"]) if doc else None

    async def save_class_grade(self, class_id: str, grade: int) -> None:
        await self.db.classes.update_one({"_id": class_id}, {"$set": {"grade": grade}}, upsert=True, session=self.session)

    async def save_roster(self, entry: RosterEntry) -> None:
        c = entry.class_info
        doc = {"_id": f"{c.class_id}|{c.school_year}|{entry.student.student_id}", "class_id": c.class_id,
               "school_year": c.school_year, "student_id": entry.student.student_id,
               "student": entry.student.model_dump(mode="json"), "school": entry.school.model_dump(mode="json"),
               "class_info": c.model_dump(mode="json")}
        await self.db.roster.replace_one({"_id": doc["_id"]}, doc, upsert=True, session=self.session)

    async def roster(self, class_id: str, school_year: str) -> list[RosterEntry]:
        cursor = self.db.roster.find({"class_id": class_id, "school_year": school_year}, session=self.session)
        return [_roster(d) async for d in cursor.sort("_id", ASCENDING)]

    async def roster_ids(self, class_id: str, school_year: str) -> set[str]:
        cursor = self.db.roster.find({"class_id": class_id, "school_year": school_year}, {"student_id": 1}, session=self.session)
        return {d["student_id"] async for d in cursor}

    async def roster_entry(self, class_id: str, school_year: str, student_id: str) -> RosterEntry | None:
        doc = await self.db.roster.find_one({"_id": f"{class_id}|{school_year}|{student_id}"}, session=self.session)
        return _roster(doc) if doc else None

    async def get_mark(self, key: str) -> Mark | None:
        doc = await self.db.marks.find_one({"_id": key}, session=self.session)
        return _mark(doc) if doc else None

    async def save_mark(self, key: str, mark: Mark) -> None:
        await self.db.marks.replace_one({"_id": key}, {"_id": key, **asdict(mark)}, upsert=True, session=self.session)

    async def marks(self, class_id: str, school_year: str, student_id: str) -> list[Mark]:
        cursor = self.db.marks.find({"class_id": class_id, "school_year": school_year, "student_id": student_id},
                                    session=self.session)
        return [_mark(d) async for d in cursor]

    async def class_marks(self, class_id: str, school_year: str) -> list[Mark]:
        cursor = self.db.marks.find({"class_id": class_id, "school_year": school_year}, session=self.session)
        return [_mark(d) async for d in cursor]

    async def closure(self, class_id: str, school_year: str) -> Closure | None:
        return _closure(await self.db.closures.find_one({"_id": f"{class_id}|{school_year}"}, session=self.session))

    async def save_closure(self, closure: Closure) -> None:
        await self.db.closures.insert_one({"_id": f"{closure.class_id}|{closure.school_year}", **asdict(closure)},
                                          session=self.session)

    async def delete_closure(self, class_id: str, school_year: str) -> None:
        await self.db.closures.delete_one({"_id": f"{class_id}|{school_year}"}, session=self.session)

    async def audit(self, entry: AuditEntry) -> None:
        await self.db.audit.insert_one(asdict(entry), session=self.session)

    async def relock(self, record: LockedRecord) -> None:
        await self.db.year_records.replace_one({"_id": record.record_id}, {"_id": record.record_id, **asdict(record)},
                                               session=self.session)

    async def locked(self, record_id: str) -> LockedRecord | None:
        doc = await self.db.year_records.find_one({"_id": record_id}, session=self.session)
        return LockedRecord(**{k: v for k, v in doc.items() if k != "_id"}) if doc else None

    async def lock(self, record: LockedRecord) -> None:
        await self.db.year_records.insert_one({"_id": record.record_id, **asdict(record)}, session=self.session)


def MongoAssessmentUnitOfWork(mongo: Mongo, uow: MongoUnitOfWork) -> WrappedUnitOfWork[MongoAssessmentTx]:  # noqa: N802 - a constructor
    return WrappedUnitOfWork(uow, lambda tx: MongoAssessmentTx(mongo, tx))


class MongoAssessmentReader:
    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db

    async def records(self, class_id: str, school_year: str) -> list[LockedRecord]:
        cursor = self.db.year_records.find({"class_id": class_id, "school_year": school_year})
        return [LockedRecord(**{k: v for k, v in d.items() if k != "_id"}) async for d in cursor.sort("_id", ASCENDING)]

    async def closure(self, class_id: str, school_year: str) -> Closure | None:
        return _closure(await self.db.closures.find_one({"_id": f"{class_id}|{school_year}"}))

    async def audit_trail(self, class_id: str, school_year: str) -> list[AuditEntry]:
        cursor = self.db.audit.find({"class_id": class_id, "school_year": school_year}).sort("at", ASCENDING)
        out = []
        async for d in cursor:
            d.pop("_id")
            out.append(AuditEntry(**d))
        return out

    async def roster(self, class_id: str, school_year: str) -> list[RosterEntry]:
        cursor = self.db.roster.find({"class_id": class_id, "school_year": school_year}).sort("_id", ASCENDING)
        return [_roster(d) async for d in cursor]

    async def marks(self, class_id: str, school_year: str) -> list[Mark]:
        cursor = self.db.marks.find({"class_id": class_id, "school_year": school_year}).sort("_id", ASCENDING)
        return [_mark(d) async for d in cursor]
