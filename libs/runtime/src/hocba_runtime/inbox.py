"""Idempotent consumers: each consumer remembers the event ids it has processed.

The mark is written in the same transaction as the handler's changes, so an event's effects
happen once however often Kafka delivers it.

`processed_events` holds one document per consumer and event, `{_id: "<consumer>:<event id>",
schema_version: 1, consumer, event_id, at}`, and forgets it `inbox_retention_days` after `at`
(a TTL index): Kafka can only deliver again what its topics still hold, so a retention longer than
the topics' (see the setting) keeps every redelivery recognised.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from hocba_runtime.mongo import Mongo, Session, in_chunks

SCHEMA_VERSION = 1
RETENTION_INDEX = "at_ttl"
log = logging.getLogger("hocba.inbox")


async def ensure_inbox_indexes(mongo: Mongo, retention: timedelta) -> None:
    """The TTL index that forgets processed events after `retention`; a changed retention is
    applied to the existing index (collMod), as MongoDB cannot create it again with other options."""
    coll = mongo.db[Inbox.collection]
    seconds = int(retention.total_seconds())
    existing = (await coll.index_information()).get(RETENTION_INDEX)
    if existing is None:
        await coll.create_index(
            [("at", ASCENDING)], name=RETENTION_INDEX, expireAfterSeconds=seconds
        )
    elif existing.get("expireAfterSeconds") != seconds:
        await mongo.db.command(
            {
                "collMod": Inbox.collection,
                "index": {"name": RETENTION_INDEX, "expireAfterSeconds": seconds},
            }
        )
        log.info("processed events' retention changed", extra={"seconds": seconds})


class Inbox:
    collection = "processed_events"

    def __init__(self, mongo: Mongo, consumer: str) -> None:
        self.mongo = mongo
        self.consumer = consumer

    def _id(self, event_id: str) -> str:
        return f"{self.consumer}:{event_id}"

    async def already_processed(self, event_id: str, session: Session | None = None) -> bool:
        doc = await self.mongo.db[self.collection].find_one(
            {"_id": self._id(event_id)}, session=session
        )
        return doc is not None

    def _doc(self, event_id: str, at: datetime) -> dict[str, Any]:
        return {
            "_id": self._id(event_id),
            "schema_version": SCHEMA_VERSION,
            "consumer": self.consumer,
            "event_id": event_id,
            "at": at,
        }

    async def mark(self, event_id: str, session: Session) -> None:
        await self.mongo.db[self.collection].insert_one(
            self._doc(event_id, datetime.now(UTC)), session=session
        )

    async def processed_among(
        self, event_ids: list[str], session: Session | None = None
    ) -> set[str]:
        """Which of these events were processed already."""
        found: set[str] = set()
        cut = len(self._id(""))
        for chunk in in_chunks(dict.fromkeys(self._id(e) for e in event_ids)):
            cursor = self.mongo.db[self.collection].find(
                {"_id": {"$in": chunk}}, {"_id": 1}, session=session
            )
            found.update([d["_id"][cut:] async for d in cursor])
        return found

    async def mark_many(self, event_ids: list[str], session: Session) -> None:
        if event_ids:
            now = datetime.now(UTC)
            await self.mongo.db[self.collection].insert_many(
                [self._doc(e, now) for e in event_ids], session=session
            )
