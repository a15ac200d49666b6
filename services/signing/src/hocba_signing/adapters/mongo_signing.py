"""Signing requests in MongoDB, one document per record version."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from hocba_runtime.mongo import Mongo, tag_untagged
from hocba_runtime.uow import MongoUnitOfWork, ServiceTx, WrappedUnitOfWork
from pymongo import ASCENDING, ReplaceOne

from hocba_signing.domain.model import (
    CollectedSignature,
    RequiredSigner,
    SigningBatch,
    SigningRequest,
)

SCHOOL = "document.school.school_id"
SCHEMA_VERSION = 1
"""Of `requests` and `batches`."""


async def ensure_indexes(mongo: Mongo) -> None:
    await tag_untagged(mongo, ("requests", "batches"), SCHEMA_VERSION)
    await mongo.db.requests.create_index([("next_signer_id", ASCENDING), (SCHOOL, ASCENDING)])
    await mongo.db.requests.create_index([("awaiting", ASCENDING), (SCHOOL, ASCENDING)])
    await mongo.db.requests.create_index([("required.signer_id", ASCENDING)])
    await mongo.db.requests.create_index([("history.from_signer", ASCENDING)])
    await mongo.db.requests.create_index([("status", ASCENDING), ("due_at", ASCENDING)])


def _to_doc(r: SigningRequest) -> dict[str, Any]:
    nxt = r.next_signer()
    return {
        "_id": r.key,
        "schema_version": SCHEMA_VERSION,
        "record_id": r.record_id,
        "record_version": r.record_version,
        "student_id": r.student_id,
        "document": r.document,
        "content_sha256": r.content_sha256,
        "required": [asdict(s) for s in r.required],
        "signatures": [asdict(s) for s in r.signatures],
        "status": r.status,
        "next_signer_id": nxt.signer_id if nxt else None,
        "due_at": r.due_at,
        "rejected": r.rejected,
        "reminded": r.reminded,
        "history": r.history,
        "awaiting": [s.signer_id for s in r.required[len(r.signatures) :]]
        if r.status == "pending"
        else [],
    }


def _from_doc(d: dict[str, Any] | None) -> SigningRequest | None:
    if d is None:
        return None
    return SigningRequest(
        record_id=d["record_id"],
        record_version=d["record_version"],
        student_id=d["student_id"],
        document=d["document"],
        content_sha256=d["content_sha256"],
        required=[RequiredSigner(**s) for s in d["required"]],
        signatures=[CollectedSignature(**s) for s in d["signatures"]],
        due_at=d.get("due_at"),
        rejected=d.get("rejected"),
        reminded=list(d.get("reminded", [])),
        history=list(d.get("history", [])),
    )


def _batch_doc(batch: SigningBatch) -> dict[str, Any]:
    return {
        "_id": batch.batch_id,
        "schema_version": SCHEMA_VERSION,
        **asdict(batch),
        "members": [list(m) for m in batch.members],
    }


def _batch(d: dict[str, Any] | None) -> SigningBatch | None:
    if d is None:
        return None
    fields = {k: v for k, v in d.items() if k not in ("_id", "schema_version")}
    fields["members"] = [(m[0], int(m[1])) for m in fields["members"]]
    return SigningBatch(**fields)


class MongoSigningTx(ServiceTx):
    async def get(self, key: str) -> SigningRequest | None:
        return _from_doc(await self.db.requests.find_one({"_id": key}, session=self.session))

    async def existing(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        found = self.db.requests.find({"_id": {"$in": keys}}, {"_id": 1}, session=self.session)
        return {str(d["_id"]) async for d in found}

    async def save(self, request: SigningRequest) -> None:
        doc = _to_doc(request)
        await self.db.requests.replace_one(
            {"_id": doc["_id"]}, doc, upsert=True, session=self.session
        )

    async def save_many(self, requests: list[SigningRequest]) -> None:
        docs = [_to_doc(r) for r in requests]
        if docs:
            await self.db.requests.bulk_write(
                [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs],
                ordered=False,
                session=self.session,
            )

    async def pending_for(
        self, signer_id: str, school_id: str, limit: int = 500
    ) -> list[SigningRequest]:
        cursor = (
            self.db.requests.find(
                {"next_signer_id": signer_id, SCHOOL: school_id}, session=self.session
            )
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [r async for d in cursor if (r := _from_doc(d)) is not None]

    async def get_batch(self, batch_id: str) -> SigningBatch | None:
        return _batch(await self.db.batches.find_one({"_id": batch_id}, session=self.session))

    async def awaiting(
        self, signer_id: str, school_id: str, limit: int = 5_000
    ) -> list[SigningRequest]:
        cursor = self.db.requests.find(
            {"awaiting": signer_id, SCHOOL: school_id}, session=self.session
        ).limit(limit)
        return [r async for d in cursor if (r := _from_doc(d)) is not None]

    async def due_before(self, at_iso: str, limit: int = 1_000) -> list[SigningRequest]:
        cursor = self.db.requests.find(
            {"status": "pending", "due_at": {"$lte": at_iso}}, session=self.session
        ).limit(limit)
        return [r async for d in cursor if (r := _from_doc(d)) is not None]

    async def save_batch(self, batch: SigningBatch) -> None:
        await self.save_batches([batch])

    async def save_batches(self, batches: list[SigningBatch]) -> None:
        if batches:
            await self.db.batches.bulk_write(
                [ReplaceOne({"_id": b.batch_id}, _batch_doc(b), upsert=True) for b in batches],
                ordered=False,
                session=self.session,
            )


def MongoSigningUnitOfWork(mongo: Mongo, uow: MongoUnitOfWork) -> WrappedUnitOfWork[MongoSigningTx]:  # noqa: N802 - a constructor
    return WrappedUnitOfWork(uow, lambda tx: MongoSigningTx(mongo, tx))


class MongoSigningReader:
    def __init__(self, mongo: Mongo) -> None:
        self.db = mongo.db

    async def get(self, key: str) -> SigningRequest | None:
        return _from_doc(await self.db.requests.find_one({"_id": key}))

    async def pending_for(
        self, signer_id: str, school_id: str, limit: int = 500
    ) -> list[SigningRequest]:
        cursor = (
            self.db.requests.find({"next_signer_id": signer_id, SCHOOL: school_id})
            .sort("_id", ASCENDING)
            .limit(limit)
        )
        return [r async for d in cursor if (r := _from_doc(d)) is not None]

    async def get_batch(self, batch_id: str) -> SigningBatch | None:
        return _batch(await self.db.batches.find_one({"_id": batch_id}))

    async def schools_naming(self, signer_id: str) -> set[str]:
        named = {"$or": [{"required.signer_id": signer_id}, {"history.from_signer": signer_id}]}
        return {str(s) for s in await self.db.requests.distinct(SCHOOL, named)}
