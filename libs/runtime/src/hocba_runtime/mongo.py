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
from pymongo.errors import DuplicateKeyError

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
    return isinstance(exc, DuplicateKeyError) or getattr(exc, "code", None) == 11000
