"""Idempotent consumers: each consumer remembers the event ids it has processed.

The mark is written in the same transaction as the handler's changes, so an event's effects
happen once however often Kafka delivers it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hocba_runtime.mongo import Mongo, Session, in_chunks


class Inbox:
    collection = "processed_events"

    def __init__(self, mongo: Mongo, consumer: str) -> None:
        self.mongo = mongo
        self.consumer = consumer

    def _id(self, event_id: str) -> str:
        return f"{self.consumer}:{event_id}"

    async def already_processed(self, event_id: str, session: Session | None = None) -> bool:
        doc = await self.mongo.db[self.collection].find_one({"_id": self._id(event_id)}, session=session)
        return doc is not None

    async def mark(self, event_id: str, session: Session) -> None:
        await self.mongo.db[self.collection].insert_one(
            {"_id": self._id(event_id), "at": datetime.now(UTC)}, session=session
        )

    async def processed_among(self, event_ids: list[str], session: Session | None = None) -> set[str]:
        """Which of these events were processed already."""
        found: set[str] = set()
        cut = len(self._id(""))
        for chunk in in_chunks(dict.fromkeys(self._id(e) for e in event_ids)):
            cursor = self.mongo.db[self.collection].find({"_id": {"$in": chunk}}, {"_id": 1}, session=session)
            found.update([d["_id"][cut:] async for d in cursor])
        return found

    async def mark_many(self, event_ids: list[str], session: Session) -> None:
        if event_ids:
            now = datetime.now(UTC)
            await self.mongo.db[self.collection].insert_many([{"_id": self._id(e), "at": now} for e in event_ids],
                                                             session=session)
