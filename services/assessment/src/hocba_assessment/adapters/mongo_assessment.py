"""Assessment in MongoDB: marks, roster, closures and locked records, written in the unit of work.

Marks are kept one document per student and class year (`student_marks`), each mark in a slot
named after its subject and period: a class's close reads 35 documents rather than 350, and a
school system's feed, which sends a student's subjects together, writes one document per student.
A slot holds its mark, with the ids of the Kafka events applied to it, as one binary value (BSON
inside): the database encodes, decodes and copies a binary whole, where a sub-document's every
field costs it work on each write and read.

The roster and the locked year records are kept one document per class and year (`class_rosters`,
`class_records`), each student in a field named after the student: the close of a city's classes
reads and writes a class at a time, and the database's cost is per document far more than per byte
(each inserted document has its index entries, its oplog entry and its checks). Each student's
field is again one binary value: the profile as JSON, the locked record as BSON.

Each class's profile (its school, grade and teachers, from records' events) is kept readable, one
document per class in `class_profiles`: `{_id: class id, schema_version, profile: {class_id,
school_id, school_year, grade, name, homeroom_teacher: {staff_id, full_name}, subject_teachers:
[{subject_code, staff_id, full_name}]}, as_of, updated_at}`, `as_of` being the time of the records
event it comes from. It is read by `_id` only (the access checks and the ingest's admission read the
classes of a request or a batch at once), so it needs no index of its own."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import bson
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StudentProfile
from hocba_runtime.mongo import Mongo, in_chunks
from hocba_runtime.uow import MongoTransaction, MongoUnitOfWork, ServiceTx, WrappedUnitOfWork
from pymongo import ASCENDING, InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from hocba_assessment.application.ports import (
    AuditEntry,
    ClassProfileUpdate,
    Closure,
    LockedRecord,
    Mark,
    RosterEntry,
    StoredMark,
)

MARKS = "student_marks"
ROSTERS = "class_rosters"
RECORDS = "class_records"
PROFILES = "class_profiles"
PROFILE_SCHEMA_VERSION = 1
PROFILES_AT_ONCE = 500
"""Classes read in one query: more than a batch or a request names."""


def _field(name: str) -> str:
    """A code as a field name: MongoDB reads '.' as a path and '$' as an operator, so both are
    escaped (and '%', the escape)."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _split(key: str) -> tuple[str, str]:
    """A mark key (class|year|student|subject|period) as (student document id, slot name). Codes
    never hold '|'."""
    doc_id, subject, period = key.rsplit("|", 2)
    return doc_id, _field(subject) + "|" + period


def _class_id(class_id: str, school_year: str) -> str:
    return f"{class_id}|{school_year}"


def _slot(mark: Mark, events: Iterable[str] = ()) -> bytes:
    return bson.encode({"subject_code": mark.subject_code, "period": mark.period, "rating": mark.rating,
                        "score": mark.score, "comment": mark.comment, "submitted_by": mark.submitted_by,
                        "events": list(events)})


def _unpack(value: bytes | dict[str, Any]) -> dict[str, Any]:
    return bson.decode(value) if isinstance(value, bytes) else value  # the earlier form: a sub-document


def _from_slot(doc: dict[str, Any], slot: dict[str, Any]) -> Mark:
    return Mark(doc["class_id"], doc["school_year"], doc["student_id"], slot["subject_code"], slot["period"],
                slot.get("rating"), slot.get("score"), slot.get("comment", ""), slot.get("submitted_by"))


def _doc_marks(doc: dict[str, Any]) -> list[Mark]:
    return [_from_slot(doc, _unpack(value)) for _, value in sorted(doc.get("marks", {}).items())]


def _owner(mark: Mark) -> dict[str, str]:
    return {"class_id": mark.class_id, "school_year": mark.school_year, "student_id": mark.student_id}


async def ensure_indexes(mongo: Mongo) -> None:
    db = mongo.db
    await db[MARKS].create_index([("class_id", ASCENDING), ("school_year", ASCENDING)])
    await db.audit.create_index([("class_id", ASCENDING), ("school_year", ASCENDING), ("at", ASCENDING)])


def _roster(doc: dict[str, Any]) -> list[RosterEntry]:
    """A class's roster, by student id. Its students share the class's newest school and class
    profiles (an enrolment brings them; a later one may update them)."""
    school, class_info = SchoolProfile.model_validate(doc["school"]), ClassProfile.model_validate(doc["class_info"])
    students = sorted((_student(s) for s in doc.get("students", {}).values()), key=lambda s: s.student_id)
    return [RosterEntry(s, school, class_info) for s in students]


def _student(value: bytes | dict[str, Any]) -> StudentProfile:
    """A roster's student: JSON in a binary, or (the earlier form) a sub-document."""
    return StudentProfile.model_validate_json(value) if isinstance(value, bytes) else StudentProfile.model_validate(value)


def _per_class(updates: dict[tuple[str, str], dict[str, Any]]) -> list[UpdateOne]:
    """One upsert per class document, setting the given fields."""
    return [UpdateOne({"_id": _class_id(c, y)}, {"$set": values, "$setOnInsert": {"class_id": c, "school_year": y}},
                      upsert=True)
            for (c, y), values in updates.items()]


def _roster_updates(entries: Iterable[RosterEntry]) -> list[UpdateOne]:
    """Each class's enrolments (a student's last one wins) and its newest profiles."""
    updates: dict[tuple[str, str], dict[str, Any]] = {}
    newest: dict[tuple[str, str], RosterEntry] = {}
    for entry in entries:
        key = (entry.class_info.class_id, entry.class_info.school_year)
        student = entry.student
        updates.setdefault(key, {})[f"students.{_field(student.student_id)}"] = student.model_dump_json().encode()
        newest[key] = entry
    for key, entry in newest.items():  # the profiles once a class, from its last enrolment
        updates[key].update(school=entry.school.model_dump(mode="json"),
                            class_info=entry.class_info.model_dump(mode="json"))
    return _per_class(updates)


def _locked(doc: dict[str, Any] | None) -> dict[str, LockedRecord]:
    """A class's locked records, by record id."""
    records = (LockedRecord(**{**r, "retake_subjects": tuple(r.get("retake_subjects", ()))})
               for r in map(_unpack, (doc or {}).get("records", {}).values()))
    return {r.record_id: r for r in records}


def _lock_writes(records: Iterable[LockedRecord], absent: set[tuple[str, str]]) -> list[InsertOne | UpdateOne]:
    """Each class's records, new ones or new versions: one insert for a class known to have no
    document yet (its first close; an update of 35 paths costs the database several times more),
    one upsert for any other."""
    by_class: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        # vars(), not asdict(): asdict deep-copies every value, and a close writes thousands of these
        by_class.setdefault((r.class_id, r.school_year), {})[_field(r.student_id)] = bson.encode({
            **vars(r), "retake_subjects": list(r.retake_subjects)})
    inserts = [InsertOne({"_id": _class_id(c, y), "class_id": c, "school_year": y, "records": found})
               for (c, y), found in by_class.items() if (c, y) in absent]
    updates = _per_class({key: {f"records.{k}": v for k, v in found.items()}
                          for key, found in by_class.items() if key not in absent})
    return [*inserts, *updates]


def _profile_fields(update: ClassProfileUpdate) -> dict[str, Any]:
    return {"schema_version": PROFILE_SCHEMA_VERSION, "profile": update.profile.model_dump(mode="json"),
            "as_of": update.as_of, "updated_at": datetime.now(UTC)}


def _older_than(update: ClassProfileUpdate) -> dict[str, Any]:
    """The class's stored profile, if it is older than `update`."""
    return {"_id": update.profile.class_id, "as_of": {"$lt": update.as_of}}


async def read_class_profiles(db: Any, class_ids: set[str]) -> dict[str, ClassProfile]:
    """The profiles of the classes known, by class id: one query for up to PROFILES_AT_ONCE classes."""
    out: dict[str, ClassProfile] = {}
    for chunk in in_chunks(sorted(class_ids), PROFILES_AT_ONCE):
        async for d in db[PROFILES].find({"_id": {"$in": chunk}}, {"profile": 1}):
            out[d["_id"]] = ClassProfile.model_validate(d["profile"])
    return out


PROFILES_FROM_ROSTERS = "class_profiles_from_rosters"
LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


async def backfill_class_profiles(mongo: Mongo) -> int:
    """Give each class that has a roster but no profile (enrolled before profiles were kept) the
    profile its roster holds, as of 1970, so that any records event about the class replaces it.
    Done once per database (a marker in `migrations`); each write inserts only where no profile is,
    so replicas starting together do no harm. Returns the classes given a profile."""
    db = mongo.db
    if await db.migrations.find_one({"_id": PROFILES_FROM_ROSTERS}):
        return 0
    found: dict[str, ClassProfileUpdate] = {}
    async for d in db[ROSTERS].find({"class_info": {"$exists": True}}, {"class_info": 1}):
        profile = ClassProfile.model_validate(d["class_info"])
        found[profile.class_id] = ClassProfileUpdate(profile, LONG_AGO)
    filled = 0
    if found:
        try:
            result = await db[PROFILES].bulk_write([UpdateOne({"_id": c}, {"$setOnInsert": _profile_fields(u)},
                                                              upsert=True) for c, u in found.items()], ordered=False)
            filled = result.upserted_count
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
            filled = int(exc.details.get("nUpserted", 0))
    await db.migrations.update_one({"_id": PROFILES_FROM_ROSTERS},
                                   {"$set": {"done_at": datetime.now(UTC), "classes": filled}}, upsert=True)
    return filled


def _closure(doc: dict[str, Any] | None) -> Closure | None:
    if doc is None:
        return None
    return Closure(doc["class_id"], doc["school_year"], doc["requested_by"], doc["closed_at"])


class MongoAssessmentTx(ServiceTx):
    def __init__(self, mongo: Mongo, tx: MongoTransaction) -> None:
        super().__init__(mongo, tx)
        self._no_records: set[tuple[str, str]] = set()
        """Classes `locked_of` found without a records document, in this transaction."""
        self._events: dict[str, tuple[str, ...]] = {}
        """The Kafka event ids of the marks `get_mark` read, by key: `save_mark` keeps them."""

    async def class_grade(self, class_id: str) -> int | None:
        doc = await self.db.classes.find_one({"_id": class_id}, session=self.session)
        return int(doc["grade"]) if doc else None

    async def save_class_grade(self, class_id: str, grade: int) -> None:
        await self.db.classes.update_one({"_id": class_id}, {"$set": {"grade": grade}}, upsert=True, session=self.session)

    async def save_roster(self, entry: RosterEntry) -> None:
        await self.db[ROSTERS].bulk_write(_roster_updates([entry]), session=self.session)

    async def save_class_profile(self, update: ClassProfileUpdate) -> None:
        """Replace an older profile, or insert the first (two writes: a transaction cannot survive the
        duplicate key that the bulk form's single upsert meets when the stored profile is newer)."""
        fields = _profile_fields(update)
        replaced = await self.db[PROFILES].update_one(_older_than(update), {"$set": fields}, session=self.session)
        if not replaced.matched_count:
            await self.db[PROFILES].update_one({"_id": update.profile.class_id}, {"$setOnInsert": fields},
                                               upsert=True, session=self.session)

    async def roster_ids(self, class_id: str, school_year: str) -> set[str]:
        doc = await self.db[ROSTERS].find_one({"_id": _class_id(class_id, school_year)}, {"students": 1},
                                              session=self.session)
        return {_student(s).student_id for s in (doc or {}).get("students", {}).values()}

    async def get_mark(self, key: str) -> Mark | None:
        doc_id, slot = _split(key)
        doc = await self.db[MARKS].find_one({"_id": doc_id}, session=self.session)
        if not doc or slot not in doc.get("marks", {}):
            self._events[key] = ()
            return None
        value = _unpack(doc["marks"][slot])
        self._events[key] = tuple(value.get("events", ()))
        return _from_slot(doc, value)

    async def save_mark(self, key: str, mark: Mark) -> None:
        doc_id, slot = _split(key)
        # the ids of the Kafka events applied to this mark stay (see MongoMarkStore); a correction
        # reads the mark first, so they are known without reading the slot again
        if key not in self._events:
            await self.get_mark(key)
        events = self._events.pop(key)
        await self.db[MARKS].update_one({"_id": doc_id}, {"$set": {f"marks.{slot}": _slot(mark, events)},
                                                          "$setOnInsert": _owner(mark)},
                                        upsert=True, session=self.session)

    async def marks(self, class_id: str, school_year: str, student_id: str) -> list[Mark]:
        doc = await self.db[MARKS].find_one({"_id": f"{class_id}|{school_year}|{student_id}"}, session=self.session)
        return _doc_marks(doc) if doc else []

    async def closure(self, class_id: str, school_year: str) -> Closure | None:
        return _closure(await self.db.closures.find_one({"_id": f"{class_id}|{school_year}"}, session=self.session))

    async def delete_closure(self, class_id: str, school_year: str) -> None:
        await self.db.closures.delete_one({"_id": f"{class_id}|{school_year}"}, session=self.session)

    async def audit(self, entry: AuditEntry) -> None:
        await self.db.audit.insert_one(asdict(entry), session=self.session)

    async def closures_of(self, classes: set[tuple[str, str]]) -> dict[tuple[str, str], Closure]:
        out: dict[tuple[str, str], Closure] = {}
        for chunk in in_chunks(sorted(f"{c}|{y}" for c, y in classes)):
            async for d in self.db.closures.find({"_id": {"$in": chunk}}, session=self.session):
                closure = _closure(d)
                assert closure is not None
                out[(closure.class_id, closure.school_year)] = closure
        return out

    async def save_closures(self, closures: list[Closure]) -> None:
        if closures:
            await self.db.closures.insert_many([{"_id": f"{c.class_id}|{c.school_year}", **asdict(c)} for c in closures],
                                               session=self.session)

    async def audit_many(self, entries: list[AuditEntry]) -> None:
        if entries:
            await self.db.audit.insert_many([asdict(e) for e in entries], session=self.session)

    async def marks_of(self, classes: set[tuple[str, str]]) -> list[Mark]:
        """A class at a time: an equality on the (class_id, school_year) index costs the database
        less than an `$in` over many classes."""
        return [m for c, y in sorted(classes)
                async for d in self.db[MARKS].find({"class_id": c, "school_year": y}, session=self.session)
                for m in _doc_marks(d)]

    async def _class_docs(self, collection: str, classes: set[tuple[str, str]]) -> list[dict[str, Any]]:
        ids = sorted(_class_id(c, y) for c, y in classes)
        return [d for chunk in in_chunks(ids) async for d in self.db[collection].find({"_id": {"$in": chunk}},
                                                                                      session=self.session)]

    async def rosters_of(self, classes: set[tuple[str, str]]) -> list[RosterEntry]:
        docs = sorted(await self._class_docs(ROSTERS, classes), key=lambda d: (d["class_id"], d["school_year"]))
        return [entry for d in docs for entry in _roster(d)]

    async def locked_of(self, classes: set[tuple[str, str]]) -> dict[str, LockedRecord]:
        docs = await self._class_docs(RECORDS, classes)
        self._no_records |= classes - {(d["class_id"], d["school_year"]) for d in docs}
        return {rid: r for d in docs for rid, r in _locked(d).items()}

    async def lock_many(self, new: list[LockedRecord], changed: list[LockedRecord]) -> None:
        if new or changed:
            absent, self._no_records = self._no_records, set()  # after these writes, they have one
            await self.db[RECORDS].bulk_write(_lock_writes([*new, *changed], absent), session=self.session)


def MongoAssessmentUnitOfWork(mongo: Mongo, uow: MongoUnitOfWork) -> WrappedUnitOfWork[MongoAssessmentTx]:  # noqa: N802 - a constructor
    return WrappedUnitOfWork(uow, lambda tx: MongoAssessmentTx(mongo, tx))


class MongoMarkStore:
    """Marks from school systems' Kafka feeds, written in bulk without a transaction.

    Each mark document keeps the ids of the events applied to it (`events`), so a redelivered event
    is recognised and changes nothing, as the inbox does for the other consumers; every write is
    idempotent by key, and Kafka replays a partition in order, so a batch cut short by a crash is
    simply applied again."""

    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db

    async def class_grades(self, class_ids: set[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in in_chunks(sorted(class_ids)):
            async for d in self.db.classes.find({"_id": {"$in": chunk}}):
                out[d["_id"]] = int(d["grade"])
        return out

    async def closed_classes(self, classes: set[tuple[str, str]]) -> set[tuple[str, str]]:
        out: set[tuple[str, str]] = set()
        for chunk in in_chunks(sorted(f"{c}|{y}" for c, y in classes)):
            async for d in self.db.closures.find({"_id": {"$in": chunk}}, {"class_id": 1, "school_year": 1}):
                out.add((d["class_id"], d["school_year"]))
        return out

    async def stored(self, keys: Iterable[str]) -> dict[str, StoredMark]:
        wanted: dict[str, dict[str, str]] = {}
        for key in keys:
            doc_id, slot = _split(key)
            wanted.setdefault(doc_id, {})[slot] = key
        out: dict[str, StoredMark] = {}
        for chunk in in_chunks(wanted):
            async for d in self.db[MARKS].find({"_id": {"$in": chunk}}):
                for slot, key in wanted[d["_id"]].items():
                    if slot in d.get("marks", {}):
                        value = _unpack(d["marks"][slot])
                        out[key] = StoredMark(_from_slot(d, value), tuple(value.get("events", ())))
        return out

    async def write(self, marks: dict[str, StoredMark]) -> None:
        """Store marks by key, one update per student (a student's other marks stay as they are)."""
        updates: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        for key, stored in marks.items():
            doc_id, slot = _split(key)
            values, _ = updates.setdefault(doc_id, ({}, _owner(stored.mark)))
            values[f"marks.{slot}"] = _slot(stored.mark, stored.events)
        if updates:
            await self.db[MARKS].bulk_write([UpdateOne({"_id": d}, {"$set": v, "$setOnInsert": o}, upsert=True)
                                             for d, (v, o) in updates.items()], ordered=False)

    async def audit(self, entries: dict[str, AuditEntry]) -> None:
        """Audit entries under ids derived from their events: a replay does not repeat them."""
        if not entries:
            return
        try:
            await self.db.audit.insert_many([{"_id": i, **asdict(e)} for i, e in entries.items()], ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    async def save_rosters(self, entries: list[RosterEntry]) -> None:
        if entries:
            await self.db[ROSTERS].bulk_write(_roster_updates(entries), ordered=False)

    async def save_class_grades(self, grades: dict[str, int]) -> None:
        if grades:
            await self.db.classes.bulk_write([UpdateOne({"_id": c}, {"$set": {"grade": g}}, upsert=True)
                                              for c, g in grades.items()], ordered=False)

    async def save_class_profiles(self, updates: list[ClassProfileUpdate]) -> None:
        """One upsert a class, applied only over an older profile: where the stored one is newer, the
        upsert's insert meets the class's id and fails alone (duplicate key), which is the point."""
        if not updates:
            return
        try:
            await self.db[PROFILES].bulk_write([UpdateOne(_older_than(u), {"$set": _profile_fields(u)}, upsert=True)
                                                for u in updates], ordered=False)
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    async def class_profiles(self, class_ids: set[str]) -> dict[str, ClassProfile]:
        return await read_class_profiles(self.db, class_ids)


class MongoAssessmentReader:
    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db

    async def records(self, class_id: str, school_year: str) -> list[LockedRecord]:
        locked = _locked(await self.db[RECORDS].find_one({"_id": _class_id(class_id, school_year)}))
        return [locked[rid] for rid in sorted(locked)]

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
        doc = await self.db[ROSTERS].find_one({"_id": _class_id(class_id, school_year)})
        return _roster(doc) if doc else []

    async def marks(self, class_id: str, school_year: str) -> list[Mark]:
        cursor = self.db[MARKS].find({"class_id": class_id, "school_year": school_year}).sort("_id", ASCENDING)
        return [m async for d in cursor for m in _doc_marks(d)]

    async def class_profiles(self, class_ids: set[str]) -> dict[str, ClassProfile]:
        return await read_class_profiles(self.db, class_ids)
