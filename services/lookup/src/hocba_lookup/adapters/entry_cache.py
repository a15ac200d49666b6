"""Published entries kept in the process, for as long as MongoDB says they have not changed.

A verification reads one entry by its document id; reading it from the database costs each
request a round trip and the decoding of a whole record (about 0.5 ms of the process's CPU, and on
the local stand-in the database's own CPU caps such reads near 1,100 a second). Entries change
rarely (a supersession or a revocation marks them; a rebuild replaces them all), so
`WatchedLookupReader` answers `by_id` from memory while a change stream on `published` is open:
each change of an entry, by any replica or a rebuild, drops that entry from every replica's memory
within the stream's delay (milliseconds), and anything else the stream reports (a drop, a rename, an
invalidation) or an interrupted stream empties the memory and sends every read to the database
until the stream is open again. A read that raced a change of its entry is not kept: the change
may have come after the read, and keeping it would serve the old entry until the next change.

The lookup's own writes also drop what they wrote as soon as they commit (`forget`), so that a
replica reads its own writes at once. A kept entry expires after `ttl_seconds` whatever the stream
says, a bound on what an unseen failure could cost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from motor.motor_asyncio import AsyncIOMotorCollection

from hocba_lookup.adapters.kept import Kept
from hocba_lookup.application.ports import LookupReader
from hocba_lookup.domain.model import PublishedEntry

log = logging.getLogger("hocba.lookup.cache")

MAX_ENTRIES = 20_000
"""About 15 KB an entry (the record and its signatures): 300 MB at most (the default of
`LookupSettings.entry_cache_size`)."""
TTL_SECONDS = 300.0
RETRY_SECONDS = 1.0
CHANGES_KEPT = 10_000
"""How many of the latest changes a read in flight is checked against; a read outlived by more is
not kept."""
ENTRY_CHANGES = frozenset({"insert", "update", "replace", "delete"})


class WatchedLookupReader:
    """A LookupReader whose `by_id` answers come from memory while the change stream of
    `collection` is open (see the module's text); its other reads go to `inner`."""

    def __init__(
        self,
        inner: LookupReader,
        collection: AsyncIOMotorCollection[dict[str, Any]],
        *,
        max_entries: int = MAX_ENTRIES,
        ttl_seconds: float = TTL_SECONDS,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.collection = collection
        self.retry = retry_seconds
        self._entries: Kept[str, PublishedEntry] = Kept(max_entries, ttl_seconds, clock)
        self._changes: deque[tuple[int, str | None]] = deque(maxlen=CHANGES_KEPT)
        self._seq = 0
        self._live = False
        self._task: asyncio.Task[None] | None = None
        self.hits = 0
        self.misses = 0
        self.emptied = 0
        """How many times the memory was emptied (a drop, a rename, a broken stream)."""

    @property
    def live(self) -> bool:
        """Whether entries are kept now (the change stream is open)."""
        return self._live

    async def start(self) -> None:
        """Open the change stream and keep it open. Opening takes up to the server's longest wait
        for changes (about a second), which start-up does not wait for: until the stream is open,
        every read goes to the database."""
        if self._task is None:
            self._task = asyncio.create_task(self._watch(), name="lookup-entry-changes")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._go_dark()

    # -- reads ---------------------------------------------------------------------------------

    async def by_id(self, document_id: str) -> PublishedEntry | None:
        if not self._live:
            return await self.inner.by_id(document_id)
        kept = self._entries.get(document_id)
        if kept is not None:
            self.hits += 1
            return kept
        self.misses += 1
        seq = self._seq
        entry = await self.inner.by_id(document_id)
        if entry is not None and self._live and self._unchanged_since(seq, document_id):
            self._entries.put(document_id, entry)
        return entry

    async def by_key(self, key: str) -> list[PublishedEntry]:
        return await self.inner.by_key(key)

    async def by_student(self, student_id: str) -> list[PublishedEntry]:
        return await self.inner.by_student(student_id)

    async def students_of_class(
        self, school_id: str, school_year: str, class_name: str
    ) -> list[str]:
        return await self.inner.students_of_class(school_id, school_year, class_name)

    # -- changes -------------------------------------------------------------------------------

    def forget(self, document_ids: Iterable[str]) -> None:
        """These entries changed (this process wrote them, and the write committed)."""
        for document_id in document_ids:
            self._changed(document_id)

    def _changed(self, document_id: str | None) -> None:
        """One entry changed (None: any may have)."""
        self._seq += 1
        self._changes.append((self._seq, document_id))
        if document_id is None:
            self._entries.clear()
            self.emptied += 1
        else:
            self._entries.pop(document_id)

    def _unchanged_since(self, seq: int, document_id: str) -> bool:
        """Whether no change of `document_id` (nor of every entry) came after change `seq`."""
        if self._seq == seq:
            return True
        if not self._changes or self._changes[0][0] > seq + 1:
            return False  # changes came that are no longer listed
        for number, changed in reversed(self._changes):
            if number <= seq:
                break
            if changed is None or changed == document_id:
                return False
        return True

    def _go_dark(self) -> None:
        self._live = False
        self._changed(None)

    async def _watch(self) -> None:
        pipeline = [{"$project": {"operationType": 1, "documentKey": 1}}]
        while True:
            try:
                async with self.collection.watch(pipeline) as stream:
                    change = await stream.try_next()  # the stream is open once this returns
                    self._live = True
                    if change is not None:
                        self._seen(change)
                    async for change in stream:
                        self._seen(change)
                # the stream ended (its collection was dropped or renamed over): open another
                self._go_dark()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the stream broke: read from the database until it reopens
                log.warning(
                    "the read model's change stream stopped; reading every entry from the "
                    "database until it reopens",
                    extra={"error": type(exc).__name__},
                )
                self._go_dark()
                await asyncio.sleep(self.retry)

    def _seen(self, change: dict[str, Any]) -> None:
        key = change.get("documentKey") or {}
        if change.get("operationType") in ENTRY_CHANGES and "_id" in key:
            self._changed(str(key["_id"]))
        else:  # a drop, a rename, an invalidation: the collection is another
            self._changed(None)
