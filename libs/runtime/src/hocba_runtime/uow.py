"""Unit of work: a service's state changes, the events announcing them and the mark that an
incoming event was processed all commit in one MongoDB transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar

from hocba_contracts import Envelope
from hocba_runtime.inbox import Inbox
from hocba_runtime.mongo import Mongo, Session
from hocba_runtime.outbox import Outbox

T = TypeVar("T")


class Transaction(Protocol):
    duplicate: bool
    """True when the incoming event was processed before: change nothing."""

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None: ...


class MongoTransaction:
    def __init__(self, session: Session, outbox: Outbox) -> None:
        self.session = session
        self.outbox = outbox
        self.duplicate = False
        self.emitted: list[Envelope[Any]] = []

    async def emit(self, topic: str, envelope: Envelope[Any]) -> None:
        await self.outbox.put(topic, envelope, self.session)
        self.emitted.append(envelope)


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
