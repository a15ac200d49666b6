"""A lease in MongoDB: one process of several replicas at a time does a job (publishing the outbox).
The holder renews it each round; when it stops, another takes over once the lease has expired."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
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
                {
                    "$set": {
                        "schema_version": 1,
                        "owner": self.owner,
                        "expires_at": now + timedelta(seconds=self.seconds),
                    }
                },
                upsert=True,
            )
        except Exception as exc:  # another process holds it (the upsert hit the unique _id)
            if is_duplicate_key(exc):
                return False
            raise
        return True


class LeasedJob:
    """A background job of which one process of several does a round at a time: each round it holds
    the lease and calls `work` until `work` says it is done for now (returns False), then waits."""

    def __init__(
        self,
        lease: Lease,
        work: Callable[[], Awaitable[bool]],
        wait: Callable[[], Awaitable[None]],
        name: str,
    ) -> None:
        self.lease = lease
        self.work = work
        self.wait = wait
        self.name = name
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        log = logging.getLogger(f"hocba.{self.name}")
        while True:
            try:
                held = await self.lease.hold()
                renewed = time.monotonic()
                while held and await self.work():
                    # A long run of rounds renews the lease as it goes: left to expire, another
                    # process would take it while this one still works (both publishing).
                    if time.monotonic() - renewed > self.lease.seconds / 3:
                        held = await self.lease.hold()
                        renewed = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed; retrying", self.name)
                await asyncio.sleep(1.0)
            await self.wait()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=self.name)

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Stop a background task and wait until it has stopped."""
    if task is None:
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
