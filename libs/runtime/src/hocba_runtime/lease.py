"""A lease in MongoDB: one process of several replicas at a time does a job (publishing the outbox,
chaining the audit trail). The holder renews it each round; when it stops, another takes over once
the lease has expired."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta

from hocba_runtime.mongo import Mongo, is_duplicate_key


class Lease:
    def __init__(self, mongo: Mongo, collection: str, name: str, seconds: float = 10.0) -> None:
        self.mongo = mongo
        self.collection = collection
        self.name = name
        self.seconds = seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"

    async def hold(self) -> bool:
        """Take or renew the lease; False while another process holds it."""
        now = datetime.now(UTC)
        try:
            await self.mongo.db[self.collection].find_one_and_update(
                {"_id": self.name, "$or": [{"owner": self.owner}, {"expires_at": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "expires_at": now + timedelta(seconds=self.seconds)}},
                upsert=True,
            )
        except Exception as exc:  # another process holds it (the upsert hit the unique _id)
            if is_duplicate_key(exc):
                return False
            raise
        return True
