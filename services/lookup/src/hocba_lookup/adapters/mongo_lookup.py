"""The lookup's read model in MongoDB: one document per published record, indexed by the HMAC key,
with its revocation, if any, under `revocation` (`{reason, revoked_at}`); and `revocations`, every
revocation the lookup learnt (`{_id: document id, schema_version, reason, revoked_at}`), so that a
publication projected again, or only after its revocation, still comes out revoked."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hocba_runtime.mongo import Mongo, tag_untagged
from hocba_runtime.uow import MongoUnitOfWork, ServiceTx, WrappedUnitOfWork
from pymongo import ASCENDING, ReturnDocument

from hocba_lookup.domain.model import PublishedEntry, Revocation

SCHEMA_VERSION = 1
"""Of `published` (an entry stored before revocations has no `revocation`: none) and
`revocations`."""


async def ensure_indexes(mongo: Mongo) -> None:
    await tag_untagged(mongo, ("published",), SCHEMA_VERSION)
    await mongo.db.published.create_index([("lookup_key", ASCENDING)])
    await mongo.db.published.create_index([("supersedes", ASCENDING)])
    await mongo.db.published.create_index([("student_id", ASCENDING)])
    await mongo.db.published.create_index(
        [("document.school.school_id", ASCENDING), ("school_year", ASCENDING)]
    )


def _entry(d: dict[str, Any] | None) -> PublishedEntry | None:
    if d is None:
        return None
    fields = {k: v for k, v in d.items() if k not in ("_id", "schema_version", "lookup_key")}
    revocation = fields.pop("revocation", None)
    return PublishedEntry(**fields, revocation=_revocation(revocation))


def _revocation(d: dict[str, Any] | None) -> Revocation | None:
    return None if d is None else Revocation(reason=d["reason"], revoked_at=d["revoked_at"])


class MongoLookupTx(ServiceTx):
    async def upsert(self, entry: PublishedEntry, key: str) -> None:
        doc = {
            "_id": entry.document_id,
            "schema_version": SCHEMA_VERSION,
            **vars(entry),  # not asdict(): that deep-copies the whole record
            "revocation": None if entry.revocation is None else asdict(entry.revocation),
            "lookup_key": key,
        }
        await self.db.published.replace_one(
            {"_id": entry.document_id}, doc, upsert=True, session=self.session
        )

    async def mark_superseded(self, document_id: str, by: str) -> None:
        await self.db.published.update_one(
            {"_id": document_id}, {"$set": {"superseded_by": by}}, session=self.session
        )

    async def superseding(self, document_id: str) -> str | None:
        doc = await self.db.published.find_one(
            {"supersedes": document_id}, {"_id": 1}, session=self.session
        )
        return str(doc["_id"]) if doc else None

    async def revoke(self, document_id: str, revocation: Revocation) -> None:
        # one round trip: the revocation kept (the first one stands), as it is after the upsert
        kept = _revocation(
            await self.db.revocations.find_one_and_update(
                {"_id": document_id},
                {"$setOnInsert": {"schema_version": SCHEMA_VERSION, **asdict(revocation)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=self.session,
            )
        )
        await self.db.published.update_one(
            {"_id": document_id, "revocation": None},
            {"$set": {"revocation": asdict(kept or revocation)}},
            session=self.session,
        )

    async def revocation(self, document_id: str) -> Revocation | None:
        return _revocation(
            await self.db.revocations.find_one({"_id": document_id}, session=self.session)
        )


def MongoLookupUnitOfWork(mongo: Mongo, uow: MongoUnitOfWork) -> WrappedUnitOfWork[MongoLookupTx]:  # noqa: N802 - a constructor
    return WrappedUnitOfWork(uow, lambda tx: MongoLookupTx(mongo, tx))


class MongoLookupReader:
    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db

    async def by_key(self, key: str) -> list[PublishedEntry]:
        return [
            e
            for d in [x async for x in self.db.published.find({"lookup_key": key})]
            if (e := _entry(d))
        ]

    async def by_id(self, document_id: str) -> PublishedEntry | None:
        return _entry(await self.db.published.find_one({"_id": document_id}))

    async def by_student(self, student_id: str) -> list[PublishedEntry]:
        return [
            e
            for d in [x async for x in self.db.published.find({"student_id": student_id})]
            if (e := _entry(d))
        ]

    async def students_of_class(
        self, school_id: str, school_year: str, class_name: str
    ) -> list[str]:
        found = self.db.published.find(
            {
                "document.school.school_id": school_id,
                "school_year": school_year,
                "document.class_info.name": class_name,
            },
            {"student_id": 1},
        )
        return sorted({str(d["student_id"]) async for d in found})
