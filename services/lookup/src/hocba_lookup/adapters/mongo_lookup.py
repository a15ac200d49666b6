"""The lookup's read model in MongoDB: one document per published record, indexed by the HMAC key,
with its revocation, if any, under `revocation` (`{reason, revoked_at}`); and `revocations`, every
revocation the lookup learnt (`{_id: document id, schema_version, reason, revoked_at}`), so that a
publication projected again, or only after its revocation, still comes out revoked."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hocba_runtime.mongo import Mongo, tag_untagged
from hocba_runtime.uow import MongoTransaction, MongoUnitOfWork, ServiceTx, WrappedUnitOfWork
from pymongo import ASCENDING, ReplaceOne, ReturnDocument, UpdateOne

from hocba_lookup.domain.model import PublishedEntry, Revocation

SCHEMA_VERSION = 1
"""Of `published` (an entry stored before revocations has no `revocation`: none) and
`revocations`."""


@dataclass(frozen=True)
class ProjectionCollections:
    """The collections of the read model projected from Kafka, and only those: a rebuild replaces
    exactly these (the lookup's other collections, its inbox and outbox among them, hold what Kafka
    cannot give back, and are never dropped)."""

    published: str = "published"
    revocations: str = "revocations"

    def names(self) -> tuple[str, ...]:
        return (self.published, self.revocations)


PROJECTION = ProjectionCollections()
"""The live read model's collections."""


async def ensure_indexes(mongo: Mongo, names: ProjectionCollections = PROJECTION) -> None:
    if names == PROJECTION:
        await tag_untagged(mongo, (names.published,), SCHEMA_VERSION)
    published = mongo.db[names.published]
    await published.create_index([("lookup_key", ASCENDING)])
    await published.create_index([("supersedes", ASCENDING)])
    await published.create_index([("student_id", ASCENDING)])
    await published.create_index(
        [("document.school.school_id", ASCENDING), ("school_year", ASCENDING)]
    )


async def drop_projection(mongo: Mongo, names: ProjectionCollections = PROJECTION) -> None:
    """Drop the projection's collections named (never another collection of the database)."""
    for name in names.names():
        await mongo.db.drop_collection(name)


async def swap_in(mongo: Mongo, fresh: ProjectionCollections) -> None:
    """Make the collections `fresh` the live read model: each renamed over the live one
    (`renameCollection` with `dropTarget`, atomic for each collection on MongoDB and SecantusDB);
    `published` last, so that its readers never see a rebuilt entry whose revocations are not yet
    live."""
    for fresh_name, live in (
        (fresh.revocations, PROJECTION.revocations),
        (fresh.published, PROJECTION.published),
    ):
        if fresh_name in await mongo.db.list_collection_names(filter={"name": fresh_name}):
            await mongo.db[fresh_name].rename(live, dropTarget=True)
        else:  # nothing was projected into it (an empty topic): the live one empties too
            await mongo.db.drop_collection(live)


def _entry(d: dict[str, Any] | None) -> PublishedEntry | None:
    if d is None:
        return None
    fields = {k: v for k, v in d.items() if k not in ("_id", "schema_version", "lookup_key")}
    revocation = fields.pop("revocation", None)
    return PublishedEntry(**fields, revocation=_revocation(revocation))


def _revocation(d: dict[str, Any] | None) -> Revocation | None:
    return None if d is None else Revocation(reason=d["reason"], revoked_at=d["revoked_at"])


def _stored(entry: PublishedEntry, key: str) -> dict[str, Any]:
    """An entry as `published` keeps it, under its lookup key."""
    return {
        "_id": entry.document_id,
        "schema_version": SCHEMA_VERSION,
        **vars(entry),  # not asdict(): that deep-copies the whole record
        "revocation": None if entry.revocation is None else asdict(entry.revocation),
        "lookup_key": key,
    }


class MongoLookupTx(ServiceTx):
    def __init__(
        self, mongo: Mongo, tx: MongoTransaction, names: ProjectionCollections = PROJECTION
    ) -> None:
        super().__init__(mongo, tx)
        self.published = self.db[names.published]
        self.revocations = self.db[names.revocations]

    async def upsert(self, entry: PublishedEntry, key: str) -> None:
        await self.published.replace_one(
            {"_id": entry.document_id}, _stored(entry, key), upsert=True, session=self.session
        )

    async def mark_superseded(self, document_id: str, by: str) -> None:
        await self.published.update_one(
            {"_id": document_id}, {"$set": {"superseded_by": by}}, session=self.session
        )

    async def superseding(self, document_id: str) -> str | None:
        doc = await self.published.find_one(
            {"supersedes": document_id}, {"_id": 1}, session=self.session
        )
        return str(doc["_id"]) if doc else None

    async def revoke(self, document_id: str, revocation: Revocation) -> None:
        # one round trip: the revocation kept (the first one stands), as it is after the upsert
        kept = _revocation(
            await self.revocations.find_one_and_update(
                {"_id": document_id},
                {"$setOnInsert": {"schema_version": SCHEMA_VERSION, **asdict(revocation)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=self.session,
            )
        )
        await self.published.update_one(
            {"_id": document_id, "revocation": None},
            {"$set": {"revocation": asdict(kept or revocation)}},
            session=self.session,
        )

    async def revocation(self, document_id: str) -> Revocation | None:
        return _revocation(
            await self.revocations.find_one({"_id": document_id}, session=self.session)
        )

    async def superseding_many(self, document_ids: Collection[str]) -> dict[str, str]:
        if not document_ids:
            return {}
        found: dict[str, str] = {}
        async for d in self.published.find(
            {"supersedes": {"$in": list(document_ids)}},
            {"_id": 1, "supersedes": 1},
            session=self.session,
        ):
            found.setdefault(str(d["supersedes"]), str(d["_id"]))
        return found

    async def revocations_many(self, document_ids: Collection[str]) -> dict[str, Revocation]:
        if not document_ids:
            return {}
        return {
            str(d["_id"]): Revocation(reason=d["reason"], revoked_at=d["revoked_at"])
            async for d in self.revocations.find(
                {"_id": {"$in": list(document_ids)}}, session=self.session
            )
        }

    async def upsert_many(self, entries: Sequence[tuple[PublishedEntry, str]]) -> None:
        if entries:
            await self.published.bulk_write(
                [
                    ReplaceOne({"_id": e.document_id}, _stored(e, k), upsert=True)
                    for e, k in entries
                ],
                session=self.session,
            )

    async def mark_superseded_many(self, marks: Mapping[str, str]) -> None:
        if marks:
            await self.published.bulk_write(
                [UpdateOne({"_id": d}, {"$set": {"superseded_by": by}}) for d, by in marks.items()],
                session=self.session,
            )

    async def revoke_many(self, revocations: Mapping[str, Revocation]) -> None:
        # three round trips however many: keep each first revocation, read back those kept, mark
        # the entries projected and not revoked yet
        if not revocations:
            return
        await self.revocations.bulk_write(
            [
                UpdateOne(
                    {"_id": d},
                    {"$setOnInsert": {"schema_version": SCHEMA_VERSION, **asdict(r)}},
                    upsert=True,
                )
                for d, r in revocations.items()
            ],
            session=self.session,
        )
        kept = await self.revocations_many(revocations.keys())
        await self.published.bulk_write(
            [
                UpdateOne(
                    {"_id": d, "revocation": None},
                    {"$set": {"revocation": asdict(kept.get(d, r))}},
                )
                for d, r in revocations.items()
            ],
            session=self.session,
        )


def MongoLookupUnitOfWork(  # noqa: N802 - a constructor
    mongo: Mongo, uow: MongoUnitOfWork, names: ProjectionCollections = PROJECTION
) -> WrappedUnitOfWork[MongoLookupTx]:
    return WrappedUnitOfWork(uow, lambda tx: MongoLookupTx(mongo, tx, names))


class MongoLookupReader:
    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db
        self.published = mongo.db[PROJECTION.published]

    async def by_key(self, key: str) -> list[PublishedEntry]:
        return [
            e
            for d in [x async for x in self.published.find({"lookup_key": key})]
            if (e := _entry(d))
        ]

    async def by_id(self, document_id: str) -> PublishedEntry | None:
        return _entry(await self.published.find_one({"_id": document_id}))

    async def by_student(self, student_id: str) -> list[PublishedEntry]:
        return [
            e
            for d in [x async for x in self.published.find({"student_id": student_id})]
            if (e := _entry(d))
        ]

    async def students_of_class(
        self, school_id: str, school_year: str, class_name: str
    ) -> list[str]:
        found = self.published.find(
            {
                "document.school.school_id": school_id,
                "school_year": school_year,
                "document.class_info.name": class_name,
            },
            {"student_id": 1},
        )
        return sorted({str(d["student_id"]) async for d in found})
