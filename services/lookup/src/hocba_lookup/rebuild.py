"""`python -m hocba_lookup rebuild`: the lookup's read model built again from scratch by replaying
the publishing topic (`make lookup-rebuild`).

It reads the lookup's own settings (`HOCBA_LOOKUP_*`, as the service does) and
1. projects every event of every partition of `hocba.publishing.events`, from the earliest offset
   to the end (see `TopicReplay`), into fresh collections (`published_rebuild`,
   `revocations_rebuild`), through the same use case as the live subscriber (`project_many`, a
   poll's events of each partition at a time), decoded the same way (envelope, upcasters), without
   the inbox (the events are handed over without their envelope: an event the live projection
   handled before is applied again, not skipped as a duplicate; the projection's writes are
   idempotent upserts, and no inbox record is written or removed);
2. swaps them in: each renamed over the live collection (`renameCollection` with `dropTarget`,
   which MongoDB and SecantusDB both do, atomically for each collection);
3. catches up: reads on from where step 1 stopped to the topic's end as it is after the swap, into
   the live collections, so that what the live projection wrote into the old collections while the
   rebuild ran is in the new ones too.

The service may keep running meanwhile: readers see the old read model until the swap and the
rebuilt one after it; the live projection goes on consuming (its consumer group is untouched) and
writes what it receives into whichever collections are live. Only the projection's collections
(`ProjectionCollections`) are replaced: the lookup's other collections (inbox, outbox, and any the
lookup keeps that Kafka cannot give back) are never dropped.

A replay needs every event still on the topic: the publishing topic is created with unlimited
retention (see `hocba_contracts.topics` and deploy/README.md).

The progress bar (stderr) shows counts and the rate only; the summary line names no record."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import KafkaError
from hocba_contracts.events import PublishingEvent
from hocba_contracts.payloads.publishing import RecordPublished, RecordRevoked
from hocba_contracts.topics import PUBLISHING_EVENTS
from hocba_runtime.kafka import decode_batch, unavailable
from hocba_runtime.mongo import Mongo
from hocba_runtime.outbox import Outbox
from hocba_runtime.uow import MongoUnitOfWork, retry_transient
from pymongo.errors import PyMongoError

from hocba_lookup.adapters.kafka_replay import Records, TopicReplay
from hocba_lookup.adapters.mongo_lookup import (
    PROJECTION,
    MongoLookupReader,
    MongoLookupUnitOfWork,
    ProjectionCollections,
    drop_projection,
    ensure_indexes,
    swap_in,
)
from hocba_lookup.adapters.trust import TrustListRecordVerifier
from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.config import LookupSettings

log = logging.getLogger("hocba.lookup.rebuild")

FRESH = ProjectionCollections(published="published_rebuild", revocations="revocations_rebuild")
"""Where the rebuild projects before it swaps them in (emptied first: a failed run's leftovers)."""


@dataclass
class Summary:
    messages: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    """Messages that are not a valid publishing event, or are one that cannot be projected (the
    live subscriber dead-letters both); each message counts once, in `kinds` or here."""
    caught_up: int = 0
    """Of `messages`, those read after the swap."""
    seconds: float = 0.0

    def line(self) -> str:
        rate = self.messages / self.seconds if self.seconds else 0.0
        return (
            f"read model rebuilt from {PUBLISHING_EVENTS.name}: {self.messages} messages "
            f"({self.kinds['published']} published, {self.kinds['revoked']} revoked, "
            f"{self.skipped} not valid events, skipped; {self.caught_up} after the swap) "
            f"in {self.seconds:.1f} s, {rate:.0f} messages/s"
        )


def _service(mongo: Mongo, settings: LookupSettings, names: ProjectionCollections) -> LookupService:
    uow = MongoLookupUnitOfWork(mongo, MongoUnitOfWork(mongo, Outbox(mongo), "lookup"), names)
    return LookupService(
        uow,
        MongoLookupReader(mongo),
        TrustListRecordVerifier(None),  # never asked: the rebuild only projects
        settings.lookup_secret.get_secret_value(),
    )


@retry_transient(attempts=8)
async def _apply(service: LookupService, events: list[RecordPublished | RecordRevoked]) -> None:
    await service.project_many([(event, None) for event in events])  # without the inbox


def _kind(event: RecordPublished | RecordRevoked) -> str:
    return "published" if isinstance(event, RecordPublished) else "revoked"


async def _project(service: LookupService, batch: dict[Any, Records], summary: Summary) -> int:
    """One poll's records: the partitions side by side, each in one transaction and in its order
    (a student's events are on one partition: a correction and a revocation come after their
    publication)."""

    async def partition(records: Records) -> None:
        events: list[RecordPublished | RecordRevoked] = []
        for delivered in decode_batch(records, PublishingEvent):
            if delivered.error is not None:
                summary.skipped += 1
            elif isinstance(delivered.event.data, RecordPublished | RecordRevoked):
                events.append(delivered.event.data)
            else:
                summary.kinds["other"] += 1
        try:
            await _apply(service, events)
            summary.kinds.update(_kind(event) for event in events)
        except Exception as exc:
            if unavailable(exc):
                raise
            # As the live subscriber: event by event, and one that cannot be projected (the live
            # projection dead-lettered it) is skipped, not the end of the rebuild.
            for event in events:
                try:
                    await _apply(service, [event])
                    summary.kinds[_kind(event)] += 1
                except Exception as one:
                    if unavailable(one):
                        raise
                    summary.skipped += 1
                    log.warning(
                        "an event that cannot be projected, skipped",
                        extra={"document_id": event.document_id, "error_type": type(one).__name__},
                    )

    await asyncio.gather(*(partition(records) for records in batch.values()))
    n = sum(len(records) for records in batch.values())
    summary.messages += n
    return n


async def rebuild(
    settings: LookupSettings,
    *,
    progress: bool = True,
    max_records: int = 500,
    mongo: Mongo | None = None,
) -> Summary:
    """Rebuild the read model (see the module's text); `mongo`: the database client to use (else
    one from the settings, closed at the end)."""
    own = mongo is None
    db = mongo or Mongo(settings.mongo_uri, settings.mongo_database)
    summary = Summary()
    started = time.monotonic()
    try:
        await drop_projection(db, FRESH)
        for name in FRESH.names():
            await db.db.create_collection(name)
        await ensure_indexes(db, FRESH)
        await ensure_indexes(db, PROJECTION)
        async with TopicReplay(
            settings.kafka_bootstrap,
            PUBLISHING_EVENTS.name,
            settings.kafka_client_options(),
            max_records=max_records,
        ) as replay:
            with _bar(progress, replay.total) as bar:
                fresh = _service(db, settings, FRESH)
                async for batch in replay.batches():
                    bar.advance(await _project(fresh, batch, summary), summary, started)
                await swap_in(db, FRESH)
                live = _service(db, settings, PROJECTION)
                before = summary.messages
                async for batch in replay.catch_up():
                    bar.advance(await _project(live, batch, summary), summary, started)
                summary.caught_up = summary.messages - before
    finally:
        if own:
            db.close()
    summary.seconds = time.monotonic() - started
    return summary


class _Bar:
    """rich's progress bar on stderr: messages read of the total, and the rate; nothing else."""

    def __init__(self, enabled: bool, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.total = total
        self.progress = Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} messages/s"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=not enabled,
        )
        self.task = self.progress.add_task("replay", total=total, rate="0")

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def advance(self, n: int, summary: Summary, started: float) -> None:
        elapsed = time.monotonic() - started
        rate = summary.messages / elapsed if elapsed else 0.0
        self.total = max(self.total, summary.messages)  # messages published since the start
        self.progress.update(self.task, advance=n, total=self.total, rate=f"{rate:.0f}")


def _bar(enabled: bool, total: int) -> _Bar:
    return _Bar(enabled, total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hocba_lookup rebuild",
        description="Rebuild the lookup's read model by replaying the publishing topic "
        "(settings from HOCBA_LOOKUP_*, as the service reads them).",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--batch", type=int, default=500, help="messages read from Kafka at a time (default 500)"
    )
    args = parser.parse_args(argv)
    try:
        summary = asyncio.run(
            rebuild(LookupSettings(), progress=not args.quiet, max_records=args.batch)
        )
    except PyMongoError as exc:  # the URI is not echoed: it may carry a password
        sys.stderr.write(
            f"error: the database (HOCBA_LOOKUP_MONGO_URI) failed: {type(exc).__name__}; the live "
            "read model is unchanged unless the swap had begun; run the rebuild again\n"
        )
        return 1
    except (KafkaError, LookupError) as exc:
        sys.stderr.write(
            f"error: reading {PUBLISHING_EVENTS.name} (HOCBA_LOOKUP_KAFKA_BOOTSTRAP) failed: "
            f"{type(exc).__name__}; the live read model is unchanged\n"
        )
        return 1
    sys.stdout.write(summary.line() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
