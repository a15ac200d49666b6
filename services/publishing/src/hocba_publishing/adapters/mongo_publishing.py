"""Published documents and their PDFs in MongoDB. Documents are inserted, never updated.

`documents` holds each published document's fields; `pdfs` its sealed PDF once rendered (after the
publication), the file's bytes as they are served (`{_id: document id, schema_version, pdf:
<binary>, sha256, rendered_at}`): a file, not an encoded document, and so the one binary value the
service stores; `pdf_renders` who renders which PDF now; `rejections` why a record was not
published; `revocations` the revocation of a document, kept apart from it (`{_id: document id,
schema_version, document_id, record_id, record_version, student_id, school_id, revoked_by, reason,
revoked_at}`), inserted once and never updated either."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bson import Binary
from hocba_runtime.lease import Lease
from hocba_runtime.mongo import Mongo, Session, in_chunks, is_duplicate_key, tag_untagged
from hocba_runtime.uow import MongoUnitOfWork, ServiceTx, WrappedUnitOfWork
from pymongo import ASCENDING, DESCENDING

from hocba_publishing.adapters.mongo_log import ensure_log_indexes, queue_entries
from hocba_publishing.domain.model import PublishedDocument, Revocation, StoredPdf

SCHEMA_VERSION = 1
"""Of `documents`, `pdfs`, `rejections` and `revocations`."""


async def ensure_indexes(mongo: Mongo) -> None:
    await tag_untagged(mongo, ("documents", "pdfs", "rejections"), SCHEMA_VERSION)
    await mongo.db.documents.create_index(
        [("record_id", ASCENDING), ("record_version", ASCENDING)], unique=True
    )
    await mongo.db.documents.create_index([("supersedes", ASCENDING)])
    # a student's record book: every version of the student's records, in the order it is read
    await mongo.db.documents.create_index(
        [("student_id", ASCENDING), ("school_year", ASCENDING), ("record_version", ASCENDING)]
    )
    await mongo.db.revocations.create_index([("record_id", ASCENDING)])
    await ensure_log_indexes(mongo)


def _from_doc(d: dict[str, Any] | None) -> PublishedDocument | None:
    if d is None:
        return None
    fields = {k: v for k, v in d.items() if k not in ("_id", "schema_version")}
    return PublishedDocument(**fields)


def _revocation(d: dict[str, Any] | None) -> Revocation | None:
    if d is None:
        return None
    return Revocation(**{k: v for k, v in d.items() if k not in ("_id", "schema_version")})


def _stored(doc: PublishedDocument) -> dict[str, Any]:
    """The document's fields as stored; vars(), not asdict(), which deep-copies the whole record
    (a third of a batch's publication time was spent copying)."""
    return {"_id": doc.document_id, "schema_version": SCHEMA_VERSION, **vars(doc)}


async def _versions(
    db: Any, record_ids: Collection[str], session: Session | None
) -> dict[str, dict[int, str]]:
    """One query (the record id and version index), a few fields a document."""
    out: dict[str, dict[int, str]] = {}
    for chunk in in_chunks(sorted(set(record_ids))):
        cursor = db.documents.find(
            {"record_id": {"$in": chunk}},
            {"record_id": 1, "record_version": 1},
            session=session,
        )
        async for d in cursor:
            out.setdefault(d["record_id"], {})[int(d["record_version"])] = str(d["_id"])
    return out


class MongoPublishingTx(ServiceTx):
    async def find(self, record_id: str, record_version: int) -> PublishedDocument | None:
        return _from_doc(
            await self.db.documents.find_one(
                {"record_id": record_id, "record_version": record_version}, session=self.session
            )
        )

    async def latest(self, record_id: str) -> PublishedDocument | None:
        cursor = (
            self.db.documents.find({"record_id": record_id}, session=self.session)
            .sort("record_version", DESCENDING)
            .limit(1)
        )
        found = [d async for d in cursor]
        return _from_doc(found[0]) if found else None

    async def save(self, doc: PublishedDocument) -> None:
        await self.db.documents.insert_one(
            _stored(doc),
            session=self.session,
        )

    async def save_many(self, docs: list[PublishedDocument]) -> None:
        if docs:
            await self.db.documents.insert_many(
                [_stored(d) for d in docs],
                session=self.session,
            )

    async def versions(self, record_ids: Collection[str]) -> dict[str, dict[int, str]]:
        return await _versions(self.db, record_ids, self.session)

    async def revocation(self, document_id: str) -> Revocation | None:
        return _revocation(
            await self.db.revocations.find_one({"_id": document_id}, session=self.session)
        )

    async def revoke(self, revocation: Revocation) -> None:
        """Keyed by the document id: a second revocation of a document is a duplicate key."""
        await self.db.revocations.insert_one(
            {"_id": revocation.document_id, "schema_version": SCHEMA_VERSION, **asdict(revocation)},
            session=self.session,
        )

    async def log(self, entries: list[dict[str, Any]]) -> None:
        await queue_entries(self.db, entries, self.session)


def MongoPublishingUnitOfWork(
    mongo: Mongo, uow: MongoUnitOfWork
) -> WrappedUnitOfWork[MongoPublishingTx]:  # noqa: N802 - a constructor
    return WrappedUnitOfWork(uow, lambda tx: MongoPublishingTx(mongo, tx))


class MongoPublishingReader:
    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db

    async def document(self, document_id: str) -> PublishedDocument | None:
        return _from_doc(await self.db.documents.find_one({"_id": document_id}))

    async def for_record(self, record_id: str) -> list[PublishedDocument]:
        cursor = self.db.documents.find({"record_id": record_id}).sort("record_version", ASCENDING)
        return [d for raw in [x async for x in cursor] if (d := _from_doc(raw)) is not None]

    async def for_student(self, student_id: str) -> list[PublishedDocument]:
        cursor = self.db.documents.find({"student_id": student_id}).sort(
            [("school_year", ASCENDING), ("record_version", ASCENDING)]
        )
        return [d for raw in [x async for x in cursor] if (d := _from_doc(raw)) is not None]

    async def find(self, record_id: str, record_version: int) -> PublishedDocument | None:
        return _from_doc(
            await self.db.documents.find_one(
                {"record_id": record_id, "record_version": record_version}
            )
        )

    async def versions(self, record_ids: Collection[str]) -> dict[str, dict[int, str]]:
        return await _versions(self.db, record_ids, None)

    async def save_rejection(self, record_id: str, record_version: int, reason: str) -> None:
        await self.db.rejections.update_one(
            {"_id": f"{record_id}:{record_version}"},
            {
                "$set": {
                    "schema_version": SCHEMA_VERSION,
                    "record_id": record_id,
                    "record_version": record_version,
                    "reason": reason,
                    "at": datetime.now(UTC),
                }
            },
            upsert=True,
        )

    async def superseded_by(self, document_id: str) -> str | None:
        found = await self.db.documents.find_one({"supersedes": document_id}, {"_id": 1})
        return str(found["_id"]) if found else None

    async def revocation(self, document_id: str) -> Revocation | None:
        return _revocation(await self.db.revocations.find_one({"_id": document_id}))

    async def revocations(self, record_id: str) -> list[Revocation]:
        cursor = self.db.revocations.find({"record_id": record_id}).sort(
            "record_version", ASCENDING
        )
        return [r for raw in [x async for x in cursor] if (r := _revocation(raw)) is not None]


class MongoPdfStore:
    """`pdfs`: each document's PDF once rendered (`{_id: document id, schema_version, pdf:
    <binary>, sha256, rendered_at}`), inserted once; `pdf_renders`: who renders which PDF now, a
    lease a document (hocba_runtime.lease), deleted when the render is done."""

    def __init__(self, mongo: Mongo) -> None:
        self.mongo = mongo
        self.db = mongo.db

    async def get(self, document_id: str) -> StoredPdf | None:
        found = await self.db.pdfs.find_one({"_id": document_id})
        return None if found is None else StoredPdf(bytes(found["pdf"]), str(found["sha256"]))

    async def sha256(self, document_id: str) -> str | None:
        found = await self.db.pdfs.find_one({"_id": document_id}, {"sha256": 1})
        return None if found is None else str(found["sha256"])

    async def save(self, document_id: str, pdf: StoredPdf) -> StoredPdf:
        try:
            await self.db.pdfs.insert_one(
                {
                    "_id": document_id,
                    "schema_version": SCHEMA_VERSION,
                    "pdf": Binary(pdf.pdf),
                    "sha256": pdf.sha256,
                    "rendered_at": datetime.now(UTC),
                }
            )
        except Exception as exc:
            if not is_duplicate_key(exc):
                raise
            kept = await self.get(document_id)
            if kept is None:
                raise
            return kept
        return pdf

    def _lease(self, document_id: str, owner: str, seconds: float) -> Lease:
        lease = Lease(self.mongo, "pdf_renders", document_id, seconds)
        lease.owner = owner
        return lease

    async def claim(self, document_id: str, owner: str, seconds: float) -> bool:
        return await self._lease(document_id, owner, seconds).hold()

    async def release(self, document_id: str, owner: str) -> None:
        await self.db.pdf_renders.delete_one({"_id": document_id, "owner": owner})
