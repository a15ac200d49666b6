"""Assessment in MongoDB: marks, roster, closures and locked records, written in the unit of work.

Every document is readable: sub-documents with named fields (no binary values, no JSON strings),
and a `schema_version`. A MongoDB user can query, index and export them without Python.

Marks are kept one document per student and class year (`student_marks`, schema 3): a class's close
reads 35 documents rather than 350, and a school system's feed, which sends a student's subjects
together, writes one document per student. Each kind of mark has its own map: `marks` (subject
assessments) keyed by subject code, then period; `conduct` by period; `traits` (qualities and
competencies) by code, then period; `attendance` by period. Each mark is a sub-document that names
its own code and period and keeps the ids of the Kafka events applied to it::

    {_id: "<class>|<year>|<student>", schema_version: 3, class_id, school_year, student_id,
     marks: {TOAN: {end_term_1: {subject_code: "TOAN", period: "end_term_1", rating: null, score: 7.5,
                                 comment: "", submitted_by: "GV-01", events: ["<event id>", ...]}}},
     conduct: {term_1: {period: "term_1", level: "tot", comment: "", submitted_by, events}},
     traits: {cham_chi: {end_of_year: {code: "cham_chi", period: "end_of_year", level: "T",
                                       comment: "", submitted_by, events}}},
     attendance: {year: {period: "year", days: 3, submitted_by, events}}}

One student's marks in one subject: `db.student_marks.find({student_id: "HS-1"}, {class_id: 1,
school_year: 1, "marks.TOAN": 1})` (indexed by `student_id`; a class's by `class_id, school_year`);
their conduct: `{conduct: 1}`. A subject or trait code holding `.`, `$` or `%` is escaped in the
field name (`%2E`, `%24`, `%25`); its `subject_code` (`code`) field keeps it as it is.

The roster and the locked year records are kept one document per class and year (`class_rosters`,
`class_records`, schema 2), each student in a sub-document of `students` or `records` named after the
student: the close of a city's classes reads and writes a class at a time, and the database's cost is
per document far more than per byte (each inserted document has its index entries, its oplog entry
and its checks)::

    {_id: "<class>|<year>", schema_version: 2, class_id, school_year, school: {...}, class_info: {...},
     students: {"HS-1": {student_id, full_name, date_of_birth, ...}}}
    {_id: "<class>|<year>", schema_version: 2, class_id, school_year,
     records: {"HS-1": {record_id, record_version, student_id, level, promotion, retake_subjects: [...], ...}}}

Documents stored before are rewritten in this form when the service starts: those of schema 1
(each mark, student or record one binary value: BSON or JSON inside) by `migrate_readable_storage`,
marks of schema 2 (conduct, qualities and competencies and attendance kept as marks of pseudo
subjects `_conduct`, `_trait:<code>`, `_traits`, `_absent`) by `migrate_mark_kinds`.

Each class's profile (its school, grade and teachers, from records' events) is kept one document per
class in `class_profiles`: `{_id: class id, schema_version, profile: {class_id, school_id,
school_year, grade, name, homeroom_teacher: {staff_id, full_name}, subject_teachers: [{subject_code,
staff_id, full_name}]}, as_of, updated_at}`, `as_of` being the time of the records event it comes
from. It is read by `_id` only (the access checks and the ingest's admission read the classes of a
request or a batch at once), so it needs no index of its own.

A class year's closure (`closures`, one document while it is closed) names the unlock it follows, if
it follows one; the class year's latest unlock is kept in `unlocks`, written by the unlock in the
transaction that deletes the closure, and read by the close that follows (any replica, whichever
entrypoint asked), so that each new version of a record says why it exists::

    {_id: "<class>|<year>", schema_version: 1, class_id, school_year, requested_by, closed_at,
     after_unlock: {approved_by, reason, at} | null}
    {_id: "<class>|<year>", schema_version: 1, class_id, school_year, approved_by, reason, at}

A closure stored before unlocks were kept has no `after_unlock` (read as none); the unlocks made
before are filled in once from the audit trail by `backfill_unlocks`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import bson
from hocba_contracts.payloads.assessment import CORRECTION_REASON_MAX_LENGTH, RecordCorrection
from hocba_contracts.payloads.common import ClassProfile, SchoolProfile, StudentProfile
from hocba_runtime.mongo import Mongo, in_chunks
from hocba_runtime.uow import MongoTransaction, MongoUnitOfWork, ServiceTx, WrappedUnitOfWork
from pydantic import ValidationError
from pymongo import ASCENDING, InsertOne, ReplaceOne, UpdateOne
from pymongo.errors import BulkWriteError

from hocba_assessment.domain.marks import (
    Attendance,
    Conduct,
    Kind,
    Mark,
    SubjectAssessment,
    Trait,
    split_key,
)
from hocba_assessment.domain.model import (
    AuditEntry,
    ClassProfileUpdate,
    Closure,
    LockedRecord,
    RosterEntry,
    StoredMark,
    Unlock,
)

MARKS = "student_marks"
ROSTERS = "class_rosters"
RECORDS = "class_records"
PROFILES = "class_profiles"
MARKS_SCHEMA_VERSION = 3
"""Of `student_marks`: a map a kind of mark (2: conduct, traits and attendance as pseudo subjects
under `marks`; 1, untagged: each mark one binary value)."""
SCHEMA_VERSION = 2
"""Of `class_rosters` and `class_records`: sub-documents throughout (1, untagged: each student or
record one binary value)."""
PROFILE_SCHEMA_VERSION = 1
DOCUMENT_SCHEMA_VERSION = 1
"""Of assessment's other collections (`classes`, `closures`, `unlocks`, `audit`, `migrations`)."""
UNLOCKS = "unlocks"
PROFILES_AT_ONCE = 500
"""Classes read in one query: more than a batch or a request names."""
SECTIONS: dict[Kind, str] = {
    "subject": "marks",
    "conduct": "conduct",
    "trait": "traits",
    "attendance": "attendance",
}
"""The map of a student's document that holds each kind of mark."""


def _field(name: str) -> str:
    """A code as a field name: MongoDB reads '.' as a path and '$' as an operator, so both are
    escaped (and '%', the escape)."""
    return name.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _locate(key: str) -> tuple[str, tuple[str, ...]]:
    """A mark key as (student document id, the mark's path in it)."""
    class_id, school_year, student_id, kind, code, period = split_key(key)
    section = SECTIONS[kind]
    path = (section, _field(code), period) if code else (section, period)
    return f"{class_id}|{school_year}|{student_id}", path


def _class_id(class_id: str, school_year: str) -> str:
    return f"{class_id}|{school_year}"


def _mark_doc(mark: Mark, events: Iterable[str] = ()) -> dict[str, Any]:
    """A mark as its sub-document: its own fields but its owner's (the document's), and `events`."""
    if isinstance(mark, SubjectAssessment):
        doc: dict[str, Any] = {
            "subject_code": mark.subject_code,
            "period": mark.period,
            "rating": mark.rating,
            "score": mark.score,
            "comment": mark.comment,
        }
    elif isinstance(mark, Trait):
        doc = {
            "code": mark.code,
            "period": mark.period,
            "level": mark.level,
            "comment": mark.comment,
        }
    elif isinstance(mark, Conduct):
        doc = {"period": mark.period, "level": mark.level, "comment": mark.comment}
    else:
        doc = {"period": mark.period, "days": mark.days}
    doc["submitted_by"] = mark.submitted_by
    doc["events"] = list(events)
    return doc


Owner = tuple[str, str, str]
"""A student document's class, year and student: the first fields of each of its marks."""


def _subject(owner: Owner, slot: dict[str, Any]) -> Mark:
    return SubjectAssessment(
        *owner,
        slot["subject_code"],
        slot["period"],
        slot.get("rating"),
        slot.get("score"),
        slot.get("comment", ""),
        slot.get("submitted_by"),
    )


def _trait(owner: Owner, slot: dict[str, Any]) -> Mark:
    return Trait(
        *owner,
        slot["code"],
        slot["period"],
        slot["level"],
        slot.get("comment", ""),
        slot.get("submitted_by"),
    )


def _conduct(owner: Owner, slot: dict[str, Any]) -> Mark:
    return Conduct(
        *owner, slot["period"], slot["level"], slot.get("comment", ""), slot.get("submitted_by")
    )


def _attendance(owner: Owner, slot: dict[str, Any]) -> Mark:
    return Attendance(*owner, slot["period"], int(slot["days"]), slot.get("submitted_by"))


READ_SLOT: dict[str, Callable[[Owner, dict[str, Any]], Mark]] = {
    "marks": _subject,
    "traits": _trait,
    "conduct": _conduct,
    "attendance": _attendance,
}
"""How the slots of each map of a student's document are read."""


def _from_slot(doc: dict[str, Any], section: str, slot: dict[str, Any]) -> Mark:
    return READ_SLOT[section]((doc["class_id"], doc["school_year"], doc["student_id"]), slot)


def _slot_at(doc: dict[str, Any] | None, path: tuple[str, ...]) -> dict[str, Any] | None:
    found: Any = doc
    for name in path:
        found = (found or {}).get(name)
    return found if isinstance(found, dict) else None


def _doc_marks(doc: dict[str, Any]) -> list[Mark]:
    """A student's marks: subject assessments by subject then period, traits by code then period,
    conduct by period, attendance by period. (The close reads every student's marks this way: one
    reader chosen a map, not a test a mark.)"""
    owner = (doc["class_id"], doc["school_year"], doc["student_id"])
    out: list[Mark] = []
    for section, read in (("marks", _subject), ("traits", _trait)):
        by_code = doc.get(section)
        if by_code:
            for code in sorted(by_code):
                periods = by_code[code]
                out += [read(owner, periods[p]) for p in sorted(periods)]
    for section, read in (("conduct", _conduct), ("attendance", _attendance)):
        slots = doc.get(section)
        if slots:
            out += [read(owner, slots[p]) for p in sorted(slots)]
    return out


def _owner(mark: Mark) -> dict[str, Any]:
    return {
        "schema_version": MARKS_SCHEMA_VERSION,
        "class_id": mark.class_id,
        "school_year": mark.school_year,
        "student_id": mark.student_id,
    }


async def ensure_indexes(mongo: Mongo) -> None:
    """The indexes, after rewriting documents of an earlier schema (`migrate_readable_storage`,
    then `migrate_mark_kinds`)."""
    await migrate_readable_storage(mongo)
    await migrate_mark_kinds(mongo)
    db = mongo.db
    await db[MARKS].create_index(
        [("class_id", ASCENDING), ("school_year", ASCENDING)]
    )  # a class's marks
    await db[MARKS].create_index([("student_id", ASCENDING)])  # a student's marks, for operators
    await db.audit.create_index(
        [("class_id", ASCENDING), ("school_year", ASCENDING), ("at", ASCENDING)]
    )


def _roster(doc: dict[str, Any]) -> list[RosterEntry]:
    """A class's roster, by student id. Its students share the class's newest school and class
    profiles (an enrolment brings them; a later one may update them)."""
    school, class_info = (
        SchoolProfile.model_validate(doc["school"]),
        ClassProfile.model_validate(doc["class_info"]),
    )
    students = sorted(
        (StudentProfile.model_validate(s) for s in (doc.get("students") or {}).values()),
        key=lambda s: s.student_id,
    )
    return [RosterEntry(s, school, class_info) for s in students]


def _per_class(updates: dict[tuple[str, str], dict[str, Any]]) -> list[UpdateOne]:
    """One upsert per class document, setting the given fields."""
    return [
        UpdateOne(
            {"_id": _class_id(c, y)},
            {
                "$set": values,
                "$setOnInsert": {"schema_version": SCHEMA_VERSION, "class_id": c, "school_year": y},
            },
            upsert=True,
        )
        for (c, y), values in updates.items()
    ]


def _roster_updates(entries: Iterable[RosterEntry]) -> list[UpdateOne]:
    """Each class's enrolments (a student's last one wins) and its newest profiles."""
    updates: dict[tuple[str, str], dict[str, Any]] = {}
    newest: dict[tuple[str, str], RosterEntry] = {}
    for entry in entries:
        key = (entry.class_info.class_id, entry.class_info.school_year)
        student = entry.student
        updates.setdefault(key, {})[f"students.{_field(student.student_id)}"] = student.model_dump(
            mode="json"
        )
        newest[key] = entry
    for key, entry in newest.items():  # the profiles once a class, from its last enrolment
        updates[key].update(
            school=entry.school.model_dump(mode="json"),
            class_info=entry.class_info.model_dump(mode="json"),
        )
    return _per_class(updates)


def _locked(doc: dict[str, Any] | None) -> dict[str, LockedRecord]:
    """A class's locked records, by record id."""
    records = (
        LockedRecord(**{**r, "retake_subjects": tuple(r.get("retake_subjects", ()))})
        for r in ((doc or {}).get("records") or {}).values()
    )
    return {r.record_id: r for r in records}


def _record_doc(r: LockedRecord) -> dict[str, Any]:
    # vars(), not asdict(): asdict deep-copies every value, and a close writes thousands of these
    return {**vars(r), "retake_subjects": list(r.retake_subjects)}


def _lock_writes(
    records: Iterable[LockedRecord], absent: set[tuple[str, str]]
) -> list[InsertOne[dict[str, Any]] | UpdateOne]:
    """Each class's records, new ones or new versions: one insert for a class known to have no
    document yet (its first close; an update of 35 paths costs the database several times more),
    one upsert for any other."""
    by_class: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        by_class.setdefault((r.class_id, r.school_year), {})[_field(r.student_id)] = _record_doc(r)
    inserts = [
        InsertOne(
            {
                "_id": _class_id(c, y),
                "schema_version": SCHEMA_VERSION,
                "class_id": c,
                "school_year": y,
                "records": found,
            }
        )
        for (c, y), found in by_class.items()
        if (c, y) in absent
    ]
    updates = _per_class(
        {
            key: {f"records.{k}": v for k, v in found.items()}
            for key, found in by_class.items()
            if key not in absent
        }
    )
    return [*inserts, *updates]


# -- documents of schema 1 (binary values) --------------------------------------------------------

READABLE = "readable_storage_v2"
"""The `migrations` marker: every document of an earlier schema was rewritten."""
MIGRATE_AT_ONCE = 500


def _unpack(value: Any) -> dict[str, Any]:
    """A slot or record of schema 1: BSON in a binary, or (earlier still) a sub-document."""
    return bson.decode(bytes(value)) if isinstance(value, bytes) else dict(value)


def _readable_marks(doc: dict[str, Any]) -> dict[str, Any]:
    marks: dict[str, dict[str, Any]] = {}
    for value in (doc.get("marks") or {}).values():
        mark = _unpack(value)
        marks.setdefault(_field(mark["subject_code"]), {})[mark["period"]] = {
            "subject_code": mark["subject_code"],
            "period": mark["period"],
            "rating": mark.get("rating"),
            "score": mark.get("score"),
            "comment": mark.get("comment", ""),
            "submitted_by": mark.get("submitted_by"),
            "events": list(mark.get("events", ())),
        }
    return _mark_kinds({**doc, "schema_version": 2, "marks": marks})


def _readable_roster(doc: dict[str, Any]) -> dict[str, Any]:
    students = {
        name: (
            StudentProfile.model_validate_json(value)
            if isinstance(value, bytes)
            else StudentProfile.model_validate(value)
        ).model_dump(mode="json")
        for name, value in (doc.get("students") or {}).items()
    }
    return {**doc, "schema_version": SCHEMA_VERSION, "students": students}


def _readable_records(doc: dict[str, Any]) -> dict[str, Any]:
    records = {
        name: {**(r := _unpack(value)), "retake_subjects": list(r.get("retake_subjects", ()))}
        for name, value in (doc.get("records") or {}).items()
    }
    return {**doc, "schema_version": SCHEMA_VERSION, "records": records}


def _mark_kinds(doc: dict[str, Any]) -> dict[str, Any]:
    """A student's marks of schema 2 in schema 3: the pseudo subjects `_conduct`, `_trait:<code>`
    and `_absent` under `marks` become the maps `conduct`, `traits` and `attendance`; the comment on
    a period's qualities and competencies (`_traits`) becomes the comment of each trait of that
    period that has none of its own. Every mark keeps its events."""
    marks: dict[str, dict[str, Any]] = {}
    conduct: dict[str, Any] = {}
    traits: dict[str, dict[str, Any]] = {}
    attendance: dict[str, Any] = {}
    comments: dict[str, str] = {}
    for field, periods in (doc.get("marks") or {}).items():
        for period, slot in periods.items():
            code = slot.get("subject_code", "")
            kept = {
                "submitted_by": slot.get("submitted_by"),
                "events": list(slot.get("events", ())),
            }
            if code == "_conduct" and slot.get("rating"):
                conduct[period] = {
                    "period": period,
                    "level": slot["rating"],
                    "comment": slot.get("comment", ""),
                    **kept,
                }
            elif code.startswith("_trait:") and slot.get("rating"):
                name = code.removeprefix("_trait:")
                traits.setdefault(_field(name), {})[period] = {
                    "code": name,
                    "period": period,
                    "level": slot["rating"],
                    "comment": slot.get("comment", ""),
                    **kept,
                }
            elif code == "_traits":
                comments[period] = slot.get("comment", "")
            elif code == "_absent" and slot.get("score") is not None:
                attendance[period] = {"period": period, "days": int(slot["score"]), **kept}
            elif not code.startswith("_"):
                marks.setdefault(field, {})[period] = slot
    for periods in traits.values():
        for period, slot in periods.items():
            if not slot["comment"] and comments.get(period):
                slot["comment"] = comments[period]
    return {
        **doc,
        "schema_version": MARKS_SCHEMA_VERSION,
        "marks": marks,
        "conduct": conduct,
        "traits": traits,
        "attendance": attendance,
    }


MARK_KINDS = "mark_kinds_v3"
"""The `migrations` marker: every student's marks of schema 2 were rewritten in schema 3."""


async def migrate_mark_kinds(mongo: Mongo) -> int:
    """Rewrite the students' marks of schema 2 in schema 3 (`_mark_kinds`), in bulk, a few hundred
    documents a round trip; returns how many were rewritten. Each replacement applies only to a
    document still of schema 2, so replicas starting together (or a start cut short and run again)
    do no harm; once done, a marker in `migrations` spares later starts the scan."""
    db = mongo.db
    if await db.migrations.find_one({"_id": MARK_KINDS}):
        return 0
    rewritten = 0
    old = {"schema_version": 2}
    batch: list[ReplaceOne[dict[str, Any]]] = []
    async for doc in db[MARKS].find(old):
        batch.append(ReplaceOne({"_id": doc["_id"], **old}, _mark_kinds(doc)))
        if len(batch) == MIGRATE_AT_ONCE:
            rewritten += (await db[MARKS].bulk_write(batch, ordered=False)).modified_count
            batch = []
    if batch:
        rewritten += (await db[MARKS].bulk_write(batch, ordered=False)).modified_count
    await db.migrations.update_one(
        {"_id": MARK_KINDS},
        {
            "$set": {
                "schema_version": DOCUMENT_SCHEMA_VERSION,
                "done_at": datetime.now(UTC),
                "documents": rewritten,
            }
        },
        upsert=True,
    )
    return rewritten


async def migrate_readable_storage(mongo: Mongo) -> int:
    """Rewrite the marks, rosters and records of schema 1 (binary values) as sub-documents, in bulk,
    a few hundred documents a round trip; returns how many were rewritten. Each replacement applies
    only to a document still untagged, so replicas starting together (or a start cut short and run
    again) do no harm; once done, a marker in `migrations` spares later starts the scan."""
    db = mongo.db
    if await db.migrations.find_one({"_id": READABLE}):
        return 0
    rewritten = 0
    old = {"schema_version": {"$exists": False}}
    for collection, readable in (
        (MARKS, _readable_marks),
        (ROSTERS, _readable_roster),
        (RECORDS, _readable_records),
    ):
        batch: list[ReplaceOne[dict[str, Any]]] = []
        async for doc in db[collection].find(old):
            batch.append(ReplaceOne({"_id": doc["_id"], **old}, readable(doc)))
            if len(batch) == MIGRATE_AT_ONCE:
                rewritten += (await db[collection].bulk_write(batch, ordered=False)).modified_count
                batch = []
        if batch:
            rewritten += (await db[collection].bulk_write(batch, ordered=False)).modified_count
    await db.migrations.update_one(
        {"_id": READABLE},
        {
            "$set": {
                "schema_version": DOCUMENT_SCHEMA_VERSION,
                "done_at": datetime.now(UTC),
                "documents": rewritten,
            }
        },
        upsert=True,
    )
    return rewritten


def _profile_fields(update: ClassProfileUpdate) -> dict[str, Any]:
    return {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "profile": update.profile.model_dump(mode="json"),
        "as_of": update.as_of,
        "updated_at": datetime.now(UTC),
    }


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
            result = await db[PROFILES].bulk_write(
                [
                    UpdateOne({"_id": c}, {"$setOnInsert": _profile_fields(u)}, upsert=True)
                    for c, u in found.items()
                ],
                ordered=False,
            )
            filled = result.upserted_count
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
            filled = int(exc.details.get("nUpserted", 0))
    await db.migrations.update_one(
        {"_id": PROFILES_FROM_ROSTERS},
        {
            "$set": {
                "schema_version": DOCUMENT_SCHEMA_VERSION,
                "done_at": datetime.now(UTC),
                "classes": filled,
            }
        },
        upsert=True,
    )
    return filled


UNLOCKS_FROM_AUDIT = "unlocks_from_audit"


async def backfill_unlocks(mongo: Mongo) -> int:
    """Keep, for each class year unlocked before unlocks were kept, its latest unlock as the audit
    trail states it, so that the close that follows still says why its records' new versions exist.
    Done once per database (a marker in `migrations`); each write inserts only where no unlock is
    kept (one kept since is newer), so replicas starting together do no harm. A reason longer than
    a record states is cut to its length (the audit trail keeps it whole); a class year whose latest
    unlock the record could not state (no reason, a name that is no staff id) gets none (an older
    unlock's reason would be the wrong one), so that no close fails on it. Returns the class years
    given an unlock."""
    db = mongo.db
    if await db.migrations.find_one({"_id": UNLOCKS_FROM_AUDIT}):
        return 0
    latest: dict[tuple[str, str], Unlock] = {}
    async for d in db.audit.find({"action": "unlock"}).sort("at", ASCENDING):
        key = (d["class_id"], d["school_year"])
        reason = str(d.get("reason") or "").strip()[:CORRECTION_REASON_MAX_LENGTH]
        try:
            RecordCorrection(kind="unlock", reason=reason, approved_by=d.get("by"), at=d["at"])
        except ValidationError:
            latest.pop(key, None)
            continue
        latest[key] = Unlock(d["by"], reason, d["at"])
    filled = 0
    if latest:
        try:
            result = await db[UNLOCKS].bulk_write(
                [
                    UpdateOne(
                        {"_id": _class_id(c, y)},
                        {
                            "$setOnInsert": {
                                "schema_version": DOCUMENT_SCHEMA_VERSION,
                                "class_id": c,
                                "school_year": y,
                                **_unlock_fields(unlock),
                            }
                        },
                        upsert=True,
                    )
                    for (c, y), unlock in latest.items()
                ],
                ordered=False,
            )
            filled = result.upserted_count
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise
            filled = int(exc.details.get("nUpserted", 0))
    await db.migrations.update_one(
        {"_id": UNLOCKS_FROM_AUDIT},
        {
            "$set": {
                "schema_version": DOCUMENT_SCHEMA_VERSION,
                "done_at": datetime.now(UTC),
                "class_years": filled,
            }
        },
        upsert=True,
    )
    return filled


def _grade(grade: int) -> dict[str, Any]:
    return {"schema_version": DOCUMENT_SCHEMA_VERSION, "grade": grade}


def _audit_doc(entry: AuditEntry) -> dict[str, Any]:
    return {"schema_version": DOCUMENT_SCHEMA_VERSION, **asdict(entry)}


def _unlock(doc: dict[str, Any] | None) -> Unlock | None:
    if doc is None:
        return None
    return Unlock(doc["approved_by"], doc["reason"], doc["at"])


def _unlock_fields(unlock: Unlock) -> dict[str, Any]:
    return {"approved_by": unlock.approved_by, "reason": unlock.reason, "at": unlock.at}


def _closure(doc: dict[str, Any] | None) -> Closure | None:
    if doc is None:
        return None
    return Closure(
        doc["class_id"],
        doc["school_year"],
        doc["requested_by"],
        doc["closed_at"],
        _unlock(doc.get("after_unlock")),
    )


def _closure_doc(c: Closure) -> dict[str, Any]:
    return {
        "_id": _class_id(c.class_id, c.school_year),
        "schema_version": DOCUMENT_SCHEMA_VERSION,
        "class_id": c.class_id,
        "school_year": c.school_year,
        "requested_by": c.requested_by,
        "closed_at": c.closed_at,
        "after_unlock": _unlock_fields(c.after_unlock) if c.after_unlock else None,
    }


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
        await self.db.classes.update_one(
            {"_id": class_id}, {"$set": _grade(grade)}, upsert=True, session=self.session
        )

    async def save_roster(self, entry: RosterEntry) -> None:
        await self.db[ROSTERS].bulk_write(_roster_updates([entry]), session=self.session)

    async def save_class_profile(self, update: ClassProfileUpdate) -> None:
        """Replace an older profile, or insert the first (two writes: a transaction cannot survive the
        duplicate key that the bulk form's single upsert meets when the stored profile is newer)."""
        fields = _profile_fields(update)
        replaced = await self.db[PROFILES].update_one(
            _older_than(update), {"$set": fields}, session=self.session
        )
        if not replaced.matched_count:
            await self.db[PROFILES].update_one(
                {"_id": update.profile.class_id},
                {"$setOnInsert": fields},
                upsert=True,
                session=self.session,
            )

    async def roster_ids(self, class_id: str, school_year: str) -> set[str]:
        doc = await self.db[ROSTERS].find_one(
            {"_id": _class_id(class_id, school_year)}, {"students": 1}, session=self.session
        )
        return {s["student_id"] for s in ((doc or {}).get("students") or {}).values()}

    async def get_mark(self, key: str) -> Mark | None:
        doc_id, path = _locate(key)
        doc = await self.db[MARKS].find_one(
            {"_id": doc_id},
            {"class_id": 1, "school_year": 1, "student_id": 1, ".".join(path): 1},
            session=self.session,
        )
        value = _slot_at(doc, path)
        if doc is None or value is None:
            self._events[key] = ()
            return None
        self._events[key] = tuple(value.get("events", ()))
        return _from_slot(doc, path[0], value)

    async def save_mark(self, key: str, mark: Mark) -> None:
        doc_id, path = _locate(key)
        # the ids of the Kafka events applied to this mark stay (see MongoMarkStore); a correction
        # reads the mark first, so they are known without reading the slot again
        if key not in self._events:
            await self.get_mark(key)
        events = self._events.pop(key)
        await self.db[MARKS].update_one(
            {"_id": doc_id},
            {
                "$set": {".".join(path): _mark_doc(mark, events)},
                "$setOnInsert": _owner(mark),
            },
            upsert=True,
            session=self.session,
        )

    async def marks(self, class_id: str, school_year: str, student_id: str) -> list[Mark]:
        doc = await self.db[MARKS].find_one(
            {"_id": f"{class_id}|{school_year}|{student_id}"}, session=self.session
        )
        return _doc_marks(doc) if doc else []

    async def closure(self, class_id: str, school_year: str) -> Closure | None:
        return _closure(
            await self.db.closures.find_one(
                {"_id": f"{class_id}|{school_year}"}, session=self.session
            )
        )

    async def delete_closure(self, class_id: str, school_year: str) -> None:
        await self.db.closures.delete_one(
            {"_id": f"{class_id}|{school_year}"}, session=self.session
        )

    async def save_unlock(self, class_id: str, school_year: str, unlock: Unlock) -> None:
        await self.db[UNLOCKS].replace_one(
            {"_id": _class_id(class_id, school_year)},
            {
                "schema_version": DOCUMENT_SCHEMA_VERSION,
                "class_id": class_id,
                "school_year": school_year,
                **_unlock_fields(unlock),
            },
            upsert=True,
            session=self.session,
        )

    async def unlocks_of(self, classes: set[tuple[str, str]]) -> dict[tuple[str, str], Unlock]:
        out: dict[tuple[str, str], Unlock] = {}
        for chunk in in_chunks(sorted(_class_id(c, y) for c, y in classes)):
            async for d in self.db[UNLOCKS].find({"_id": {"$in": chunk}}, session=self.session):
                unlock = _unlock(d)
                assert unlock is not None
                out[(d["class_id"], d["school_year"])] = unlock
        return out

    async def audit(self, entry: AuditEntry) -> None:
        await self.db.audit.insert_one(_audit_doc(entry), session=self.session)

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
            await self.db.closures.insert_many(
                [_closure_doc(c) for c in closures], session=self.session
            )

    async def audit_many(self, entries: list[AuditEntry]) -> None:
        if entries:
            await self.db.audit.insert_many([_audit_doc(e) for e in entries], session=self.session)

    async def marks_of(self, classes: set[tuple[str, str]]) -> list[Mark]:
        """A class at a time: an equality on the (class_id, school_year) index costs the database
        less than an `$in` over many classes."""
        return [
            m
            for c, y in sorted(classes)
            async for d in self.db[MARKS].find(
                {"class_id": c, "school_year": y}, session=self.session
            )
            for m in _doc_marks(d)
        ]

    async def _class_docs(
        self, collection: str, classes: set[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        ids = sorted(_class_id(c, y) for c, y in classes)
        return [
            d
            for chunk in in_chunks(ids)
            async for d in self.db[collection].find({"_id": {"$in": chunk}}, session=self.session)
        ]

    async def rosters_of(self, classes: set[tuple[str, str]]) -> list[RosterEntry]:
        docs = sorted(
            await self._class_docs(ROSTERS, classes),
            key=lambda d: (d["class_id"], d["school_year"]),
        )
        return [entry for d in docs for entry in _roster(d)]

    async def locked_of(self, classes: set[tuple[str, str]]) -> dict[str, LockedRecord]:
        docs = await self._class_docs(RECORDS, classes)
        self._no_records |= classes - {(d["class_id"], d["school_year"]) for d in docs}
        return {rid: r for d in docs for rid, r in _locked(d).items()}

    async def lock_many(self, new: list[LockedRecord], changed: list[LockedRecord]) -> None:
        if new or changed:
            absent, self._no_records = self._no_records, set()  # after these writes, they have one
            await self.db[RECORDS].bulk_write(
                _lock_writes([*new, *changed], absent), session=self.session
            )


def MongoAssessmentUnitOfWork(
    mongo: Mongo, uow: MongoUnitOfWork
) -> WrappedUnitOfWork[MongoAssessmentTx]:  # noqa: N802 - a constructor
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
            async for d in self.db.closures.find(
                {"_id": {"$in": chunk}}, {"class_id": 1, "school_year": 1}
            ):
                out.add((d["class_id"], d["school_year"]))
        return out

    async def stored(self, keys: Iterable[str]) -> dict[str, StoredMark]:
        wanted: dict[str, dict[str, tuple[str, ...]]] = {}
        for key in keys:
            doc_id, path = _locate(key)
            wanted.setdefault(doc_id, {})[key] = path
        out: dict[str, StoredMark] = {}
        for chunk in in_chunks(wanted):
            async for d in self.db[MARKS].find({"_id": {"$in": chunk}}):
                for key, path in wanted[d["_id"]].items():
                    if (value := _slot_at(d, path)) is not None:
                        out[key] = StoredMark(
                            _from_slot(d, path[0], value), tuple(value.get("events", ()))
                        )
        return out

    async def write(self, marks: dict[str, StoredMark]) -> None:
        """Store marks by key, one update per student (a student's other marks stay as they are)."""
        updates: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for key, stored in marks.items():
            doc_id, path = _locate(key)
            values, _ = updates.setdefault(doc_id, ({}, _owner(stored.mark)))
            values[".".join(path)] = _mark_doc(stored.mark, stored.events)
        if updates:
            await self.db[MARKS].bulk_write(
                [
                    UpdateOne({"_id": d}, {"$set": v, "$setOnInsert": o}, upsert=True)
                    for d, (v, o) in updates.items()
                ],
                ordered=False,
            )

    async def audit(self, entries: dict[str, AuditEntry]) -> None:
        """Audit entries under ids derived from their events: a replay does not repeat them."""
        if not entries:
            return
        try:
            await self.db.audit.insert_many(
                [{"_id": i, **_audit_doc(e)} for i, e in entries.items()], ordered=False
            )
        except BulkWriteError as exc:
            if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                raise

    async def save_rosters(self, entries: list[RosterEntry]) -> None:
        if entries:
            await self.db[ROSTERS].bulk_write(_roster_updates(entries), ordered=False)

    async def save_class_grades(self, grades: dict[str, int]) -> None:
        if grades:
            await self.db.classes.bulk_write(
                [
                    UpdateOne({"_id": c}, {"$set": _grade(g)}, upsert=True)
                    for c, g in grades.items()
                ],
                ordered=False,
            )

    async def save_class_profiles(self, updates: list[ClassProfileUpdate]) -> None:
        """One upsert a class, applied only over an older profile: where the stored one is newer, the
        upsert's insert meets the class's id and fails alone (duplicate key), which is the point."""
        if not updates:
            return
        try:
            await self.db[PROFILES].bulk_write(
                [
                    UpdateOne(_older_than(u), {"$set": _profile_fields(u)}, upsert=True)
                    for u in updates
                ],
                ordered=False,
            )
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
        cursor = self.db.audit.find({"class_id": class_id, "school_year": school_year}).sort(
            "at", ASCENDING
        )
        out = []
        async for d in cursor:
            d.pop("_id")
            d.pop("schema_version", None)
            out.append(AuditEntry(**d))
        return out

    async def roster(self, class_id: str, school_year: str) -> list[RosterEntry]:
        doc = await self.db[ROSTERS].find_one({"_id": _class_id(class_id, school_year)})
        return _roster(doc) if doc else []

    async def marks(self, class_id: str, school_year: str) -> list[Mark]:
        cursor = (
            self.db[MARKS]
            .find({"class_id": class_id, "school_year": school_year})
            .sort("_id", ASCENDING)
        )
        return [m async for d in cursor for m in _doc_marks(d)]

    async def class_profiles(self, class_ids: set[str]) -> dict[str, ClassProfile]:
        return await read_class_profiles(self.db, class_ids)
