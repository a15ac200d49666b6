"""MongoDB through motor: one client per process, transactions as a context manager."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from motor.motor_asyncio import (
    AsyncIOMotorClient,
    AsyncIOMotorClientSession,
    AsyncIOMotorDatabase,
)
from pymongo.errors import BulkWriteError, DuplicateKeyError

Session = AsyncIOMotorClientSession
T = TypeVar("T")

IN_CHUNK = 50
"""SecantusDB tests an `$in` list linearly for each candidate: lists of 50 ids cost about 0.15 ms an
id, lists of 500 about 0.7 ms an id (measured); so ids are looked up 50 at a time."""


def in_chunks(items: Iterable[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`items` in lists of `size`, for `$in` queries."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class Mongo:
    def __init__(self, uri: str, database: str) -> None:
        self.client: AsyncIOMotorClient[dict[str, Any]] = AsyncIOMotorClient(
            uri, tz_aware=True, serverSelectionTimeoutMS=5000
        )
        self.db: AsyncIOMotorDatabase[dict[str, Any]] = self.client[database]

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Session]:
        """Everything written with the yielded session commits together or not at all."""
        async with await self.client.start_session() as session:
            async with session.start_transaction():
                yield session

    async def ping(self) -> None:
        await self.client.admin.command("ping")

    def close(self) -> None:
        self.client.close()


def is_duplicate_key(exc: BaseException) -> bool:
    """A write refused by a unique index: one insert's DuplicateKeyError, or a bulk write (an
    insert_many) whose first refused write was a duplicate key."""
    if isinstance(exc, DuplicateKeyError) or getattr(exc, "code", None) == 11000:
        return True
    if isinstance(exc, BulkWriteError):
        errors = exc.details.get("writeErrors") or []
        return bool(errors) and errors[0].get("code") == 11000
    return False


MIGRATIONS = "migrations"
"""Each database's record of the rewrites done on start: `{_id: name, schema_version, done_at, ...}`."""


async def tag_untagged(mongo: Mongo, collections: Iterable[str], version: int = 1) -> int:
    """Give `schema_version: version` to the documents of `collections` stored before documents
    carried one (their form is that version's), once per database: a marker in `migrations` spares
    later starts the scan. Idempotent, so replicas starting together do no harm. Returns the
    documents tagged."""
    from datetime import UTC, datetime

    db = mongo.db
    marker = f"schema_version_{version}_tagged"
    if await db[MIGRATIONS].find_one({"_id": marker}):
        return 0
    tagged = 0
    for name in collections:
        result = await db[name].update_many(
            {"schema_version": {"$exists": False}}, {"$set": {"schema_version": version}}
        )
        tagged += result.modified_count
    await db[MIGRATIONS].update_one(
        {"_id": marker},
        {"$set": {"schema_version": 1, "done_at": datetime.now(UTC), "documents": tagged}},
        upsert=True,
    )
    return tagged
