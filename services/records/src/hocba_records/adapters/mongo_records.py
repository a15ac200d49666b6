"""Records in MongoDB: one collection per aggregate, written inside the unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StudentProfile
from hocba_runtime.mongo import Mongo, tag_untagged
from hocba_runtime.uow import MongoUnitOfWork, ServiceTx, WrappedUnitOfWork
from pydantic import BaseModel
from pymongo import ASCENDING

from hocba_records.domain.model import Enrollment

M = TypeVar("M", bound=BaseModel)
SCHEMA_VERSION = 1
"""Of every collection here: the profiles' fields as the contracts name them."""
COLLECTIONS = ("schools", "classes", "students", "enrollments")


def _doc(model: BaseModel, key: str) -> dict[str, Any]:
    data = model.model_dump(mode="json")
    return {"_id": data[key], "schema_version": SCHEMA_VERSION, **data}


def _from_doc(model: type[M], doc: dict[str, Any]) -> M:
    return model.model_validate(
        {k: v for k, v in doc.items() if k not in ("_id", "schema_version")}
    )


def _load(model: type[M], doc: dict[str, Any] | None) -> M | None:
    return None if doc is None else _from_doc(model, doc)


async def ensure_indexes(mongo: Mongo) -> None:
    await tag_untagged(mongo, COLLECTIONS, SCHEMA_VERSION)
    db = mongo.db
    await db.students.create_index([("citizen_id", ASCENDING)], unique=True)
    await db.enrollments.create_index([("class_id", ASCENDING)])
    await db.enrollments.create_index([("student_id", ASCENDING)])
    await db.classes.create_index([("school_id", ASCENDING), ("school_year", ASCENDING)])


async def _school_of_student(db: Any, student_id: str, session: Any = None) -> str | None:
    """The school that registered the student (students stored before schools were recorded: the
    school of their latest enrollment)."""
    doc = await db.students.find_one({"_id": student_id}, {"school_id": 1}, session=session)
    if doc is None:
        return None
    if doc.get("school_id"):
        return str(doc["school_id"])
    latest = (
        await db.enrollments.find({"student_id": student_id}, session=session)
        .sort("school_year", -1)
        .to_list(1)
    )
    return str(latest[0]["school_id"]) if latest else None


class MongoRecordsTx(ServiceTx):
    async def _replace(self, coll: str, doc: dict[str, Any]) -> None:
        await self.db[coll].replace_one({"_id": doc["_id"]}, doc, upsert=True, session=self.session)

    async def get_school(self, school_id: str) -> SchoolProfile | None:
        return _load(
            SchoolProfile, await self.db.schools.find_one({"_id": school_id}, session=self.session)
        )

    async def save_school(self, school: SchoolProfile) -> None:
        await self._replace("schools", _doc(school, "school_id"))

    async def get_class(self, class_id: str) -> ClassProfile | None:
        return _load(
            ClassProfile, await self.db.classes.find_one({"_id": class_id}, session=self.session)
        )

    async def save_class(self, cls: ClassProfile) -> None:
        await self._replace("classes", _doc(cls, "class_id"))

    async def get_student(self, student_id: str) -> StudentProfile | None:
        return _load(
            StudentProfile,
            await self.db.students.find_one({"_id": student_id}, session=self.session),
        )

    async def student_id_for_citizen(self, citizen_id: str) -> str | None:
        doc = await self.db.students.find_one(
            {"citizen_id": citizen_id}, {"_id": 1}, session=self.session
        )
        return doc["_id"] if doc else None

    async def school_of_student(self, student_id: str) -> str | None:
        return await _school_of_student(self.db, student_id, self.session)

    async def save_student(self, student: StudentProfile, school_id: str) -> None:
        await self._replace("students", {**_doc(student, "student_id"), "school_id": school_id})

    async def get_enrollment(self, enrollment_id: str) -> Enrollment | None:
        doc = await self.db.enrollments.find_one({"_id": enrollment_id}, session=self.session)
        if doc is None:
            return None
        return Enrollment(
            doc["_id"], doc["student_id"], doc["class_id"], doc["school_id"], doc["school_year"]
        )

    async def save_enrollment(self, e: Enrollment) -> None:
        await self._replace(
            "enrollments",
            {
                "_id": e.enrollment_id,
                "schema_version": SCHEMA_VERSION,
                "student_id": e.student_id,
                "class_id": e.class_id,
                "school_id": e.school_id,
                "school_year": e.school_year,
            },
        )


def MongoRecordsUnitOfWork(mongo: Mongo, uow: MongoUnitOfWork) -> WrappedUnitOfWork[MongoRecordsTx]:  # noqa: N802 - a constructor
    return WrappedUnitOfWork(uow, lambda tx: MongoRecordsTx(mongo, tx))


class MongoRecordsReader:
    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db

    async def student(self, student_id: str) -> StudentProfile | None:
        return _load(StudentProfile, await self.db.students.find_one({"_id": student_id}))

    async def school_of_student(self, student_id: str) -> str | None:
        return await _school_of_student(self.db, student_id)

    async def classes_of_student(self, student_id: str) -> list[ClassProfile]:
        ids = [
            d["class_id"]
            async for d in self.db.enrollments.find({"student_id": student_id}, {"class_id": 1})
        ]
        return (
            [_from_doc(ClassProfile, d) async for d in self.db.classes.find({"_id": {"$in": ids}})]
            if ids
            else []
        )

    async def class_profile(self, class_id: str) -> ClassProfile | None:
        return _load(ClassProfile, await self.db.classes.find_one({"_id": class_id}))

    async def class_roster(self, class_id: str) -> list[str]:
        return [
            d["student_id"]
            async for d in self.db.enrollments.find({"class_id": class_id}).sort("student_id")
        ]

    async def schools(self) -> AsyncIterator[SchoolProfile]:
        async for doc in self.db.schools.find({}).sort("_id"):
            yield _from_doc(SchoolProfile, doc)
