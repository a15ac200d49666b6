"""Unit of work: a service's state changes, the events announcing them and the mark that an
incoming event was processed all commit in one MongoDB transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from hocba_contracts import Envelope
from pymongo.errors import PyMongoError

from hocba_runtime.inbox import Inbox
from hocba_runtime.mongo import Mongo, Session
from hocba_runtime.outbox import Outbox
from hocba_runtime.retry import retry

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")


def is_transient(exc: BaseException) -> bool:
    """A transaction that conflicted with another one (MongoDB labels it): run it again."""
    return isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError")


def retry_transient(
    attempts: int = 5, pause: float = 0.02
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Run a use case again when its transaction hit a write conflict; as MongoDB's drivers do in
    `with_transaction`, the whole unit of work is retried, so nothing half-done remains."""
    return retry(attempts, pause, is_transient)


class Transaction(Protocol):
    duplicate: bool
    """True when the incoming event was processed before: change nothing."""

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None: ...


class MongoTransaction:
    def __init__(self, session: Session, outbox: Outbox) -> None:
        self.session = session
        self.outbox = outbox
        self.duplicate = False
        self.processed: set[str] = set()
        """With `MongoUnitOfWork.many`: the events of the batch processed before (skip them)."""
        self.emitted: list[Envelope[Any]] = []

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None:
        await self.outbox.put(topic, envelope, self.session)
        self.emitted.append(envelope)

    async def emit_many(self, topic: str, envelopes: list[Envelope[Any]]) -> None:
        """Many events in a few outbox documents, in their order."""
        if envelopes:
            await self.outbox.put_many(topic, envelopes, self.session)
            self.emitted.extend(envelopes)


class MongoUnitOfWork:
    def __init__(self, mongo: Mongo, outbox: Outbox, consumer: str) -> None:
        self.mongo = mongo
        self.outbox = outbox
        self.inbox = Inbox(mongo, consumer)

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[MongoTransaction]:
        """Open a transaction; `processing` is the id of the event being handled, if any."""
        async with self.mongo.transaction() as session:
            tx = MongoTransaction(session, self.outbox)
            if processing is not None:
                if await self.inbox.already_processed(processing, session):
                    tx.duplicate = True
                else:
                    await self.inbox.mark(processing, session)
            yield tx
        if tx.emitted:
            self.outbox.notify()

    @asynccontextmanager
    async def many(self, processing: list[str]) -> AsyncIterator[MongoTransaction]:
        """One transaction for a batch of incoming events: `tx.processed` names those handled
        before; the others are marked processed when it commits."""
        async with self.mongo.transaction() as session:
            tx = MongoTransaction(session, self.outbox)
            tx.processed = await self.inbox.processed_among(processing, session)
            await self.inbox.mark_many(
                [p for p in dict.fromkeys(processing) if p not in tx.processed], session
            )
            yield tx
        if tx.emitted:
            self.outbox.notify()


class ServiceTx:
    """What every service's transaction type shares: its database and session, the inbox's verdict
    on the incoming event(s), and emitting events through the outbox. A service adds its own
    repository methods on top."""

    def __init__(self, mongo: Mongo, tx: MongoTransaction) -> None:
        self.db = mongo.db
        self.tx = tx
        self.session = tx.session

    @property
    def duplicate(self) -> bool:
        return self.tx.duplicate

    @property
    def processed(self) -> set[str]:
        return self.tx.processed

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None:
        await self.tx.emit(topic, envelope)

    async def emit_many(self, topic: str, envelopes: list[Envelope[Any]]) -> None:
        await self.tx.emit_many(topic, envelopes)


class WrappedUnitOfWork(Generic[T]):
    """A service's unit of work: the runtime's transaction seen through the service's own
    transaction type (its repository methods), built by `wrap`."""

    def __init__(self, uow: MongoUnitOfWork, wrap: Callable[[MongoTransaction], T]) -> None:
        self.uow = uow
        self.wrap = wrap

    @asynccontextmanager
    async def __call__(self, processing: str | None = None) -> AsyncIterator[T]:
        async with self.uow(processing) as tx:
            yield self.wrap(tx)

    @asynccontextmanager
    async def many(self, processing: list[str]) -> AsyncIterator[T]:
        async with self.uow.many(processing) as tx:
            yield self.wrap(tx)
