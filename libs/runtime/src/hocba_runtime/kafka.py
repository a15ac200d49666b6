"""Kafka through FastStream: typed subscribers, bounded retries, dead letters and tracing.

Every subscriber of a Hocba service
- validates messages against the topic's envelope union (older versions upcast first);
- retries a failing handler a bounded number of times, then gives up;
- sends what it gives up on (and anything malformed) to `<topic>.dlt` with the error, and moves
  on to the next message;
- commits the offset only after the message is handled or dead-lettered (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypedDict, TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.message import KafkaMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from hocba_contracts import TOPICS, dead_letter_topic
from hocba_contracts.versioning import UnknownEventVersion, upcast
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import SkipValidation, TypeAdapter, ValidationError
from pymongo.errors import ConnectionFailure, PyMongoError

from hocba_runtime.mongo import is_duplicate_key
from hocba_runtime.privacy import redact
from hocba_runtime.retry import retry
from hocba_runtime.settings import ServiceSettings
from hocba_runtime.tracing import context_from, tracer

log = logging.getLogger("hocba.kafka")

P = ParamSpec("P")
R = TypeVar("R")


KafkaAuditHook = Callable[[str, list[Any], set[tuple[str, int, int]]], Awaitable[None]]
"""audit(consumer, the records a handler took, (topic, partition, offset) of those it dead-lettered)."""

_dead_lettered: contextvars.ContextVar[set[tuple[str, int, int]] | None] = contextvars.ContextVar(
    "hocba_dead_lettered", default=None
)


class PermanentError(Exception):
    """A message that can never succeed: no retries, straight to the dead-letter topic. A subclass
    may set `details`, a list of JSON values (each item at fault): the dead letter carries them whole
    in its `hocba-error-details` header, where the `hocba-error` text is cut at 2,000 characters."""


class NotAdmitted(PermanentError):
    """An ingest event from a source that may not write for its school: dead-lettered unread."""


def admit(registry: Any, source: str, school_id: str | None) -> None:
    """Refuse (NotAdmitted, with the reason) an ingest event whose source is not registered for the
    school it writes for (`auth.SchoolSystems`). Called by each ingest consumer before it stores anything."""
    reason = registry.refusal(source, school_id)
    if reason is not None:
        raise NotAdmitted(reason)


NOT_RETRIED: tuple[type[BaseException], ...] = (
    PermanentError,
    ValidationError,
    UnknownEventVersion,
    json.JSONDecodeError,
    UnicodeDecodeError,
)


Decoder = Callable[[KafkaMessage, Callable[[KafkaMessage], Awaitable[object]]], Awaitable[object]]
"""A FastStream decoder: the message, and FastStream's own decoder to fall back on. Typed without
`Any`, so that mypy can pick `broker.subscriber`'s overload from the options (an `Any` among the
arguments makes the overloads ambiguous, and the decorated handler untyped)."""


async def decode_envelope(
    msg: KafkaMessage, _original: Callable[[KafkaMessage], Awaitable[object]]
) -> object:
    """FastStream decoder: JSON, then upcast to the newest payload version."""
    raw = json.loads(msg.body)
    return upcast(raw) if isinstance(raw, dict) else raw


def retrying(
    attempts: int, backoff_seconds: float
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Retry a handler on transient errors, `attempts` times in all, with growing pauses."""
    return retry(attempts, backoff_seconds, lambda exc: not isinstance(exc, NOT_RETRIED))


def _error_text(exc: BaseException) -> str:
    """The error as stored with a dead letter: what to fix, without echoing input values."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg')}")
        return "invalid event: " + "; ".join(parts)
    if isinstance(exc, json.JSONDecodeError):
        return f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    if is_duplicate_key(exc):  # the database's text quotes the duplicated value
        return f"{type(exc).__name__}: the event conflicts with stored data (a value that must be unique is taken)"
    return redact(f"{type(exc).__name__}: {exc}")[:2000]


def middlewares(
    consumer: str, broker_ref: Callable[[], KafkaBroker], audit: KafkaAuditHook | None = None
) -> list[type[BaseMiddleware]]:
    class TracingMiddleware(BaseMiddleware):
        """Continue the producer's trace in a consumer span."""

        async def on_receive(self) -> None:
            raw = self.msg[0] if isinstance(self.msg, tuple) and self.msg else self.msg
            headers = dict(getattr(raw, "headers", None) or [])
            self._token = otel_context.attach(context_from(headers))
            self._span = tracer().start_span(
                f"{getattr(raw, 'topic', '?')} process",
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.consumer.group.name": consumer,
                    "messaging.destination.name": getattr(raw, "topic", "?"),
                },
            )
            self._span_token = otel_context.attach(trace.set_span_in_context(self._span))
            await super().on_receive()

        async def after_processed(
            self,
            exc_type: type[BaseException] | None = None,
            exc_val: BaseException | None = None,
            exc_tb: TracebackType | None = None,
        ) -> bool | None:
            if exc_val is not None:
                # the type only: an exception's text may quote the message's data
                self._span.add_event("exception", {"exception.type": type(exc_val).__name__})
                self._span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc_val).__name__))
            self._span.end()
            otel_context.detach(self._span_token)
            otel_context.detach(self._token)
            return False

    class DeadLetterMiddleware(BaseMiddleware):
        """Send what the handler gave up on to `<topic>.dlt`, then let the offset move on.
        Batch subscribers dead-letter their own bad items; a batch that fails as a whole is
        redelivered (their ack policy rewinds it)."""

        async def after_processed(
            self,
            exc_type: type[BaseException] | None = None,
            exc_val: BaseException | None = None,
            exc_tb: TracebackType | None = None,
        ) -> bool | None:
            if exc_val is None or not isinstance(exc_val, Exception) or isinstance(self.msg, tuple):
                return False
            try:
                await dead_letter(broker_ref(), self.msg, exc_val, consumer)
            except Exception:
                log.exception(
                    "could not dead-letter a message; it will be redelivered",
                    extra={"topic": getattr(self.msg, "topic", "unknown")},
                )
                return False
            return True

    class AuditMiddleware(BaseMiddleware):
        """Record what the handler took in the audit trail (what it dead-lettered is in the
        dead-letter topic instead)."""

        async def on_receive(self) -> None:
            self._rejected: set[tuple[str, int, int]] = set()
            self._token = _dead_lettered.set(self._rejected)
            await super().on_receive()

        async def after_processed(
            self,
            exc_type: type[BaseException] | None = None,
            exc_val: BaseException | None = None,
            exc_tb: TracebackType | None = None,
        ) -> bool | None:
            _dead_lettered.reset(self._token)
            if exc_val is None and audit is not None:
                records = list(self.msg) if isinstance(self.msg, tuple) else [self.msg]
                await audit(consumer, records, self._rejected)
            return False

    return [DeadLetterMiddleware, TracingMiddleware, AuditMiddleware]


DETAILS_KEPT = 2000
"""The items a dead letter's `hocba-error-details` header names at most (some 200 KB)."""


def text_headers(raw: Any) -> dict[str, str]:
    """A consumed record's headers as text."""
    return {
        k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v))
        for k, v in (getattr(raw, "headers", None) or [])
    }


async def dead_letter(broker: KafkaBroker, raw: Any, exc: BaseException, consumer: str) -> None:
    """Publish one consumed record to `<topic>.dlt` with the error in its headers (raises if the
    broker refuses: the caller must then not commit past the record)."""
    topic = getattr(raw, "topic", "unknown")
    dl_headers = text_headers(raw)
    dl_headers.update(
        {
            "hocba-error": _error_text(exc),
            "hocba-error-type": type(exc).__name__,
            "hocba-consumer": consumer,
            "hocba-original-topic": topic,
            "hocba-original-partition": str(getattr(raw, "partition", "")),
            "hocba-original-offset": str(getattr(raw, "offset", "")),
        }
    )
    details = getattr(exc, "details", None)
    if isinstance(details, list) and details:  # a PermanentError may name each of its items
        dl_headers["hocba-error-details"] = redact(
            json.dumps(details[:DETAILS_KEPT], ensure_ascii=False)
        )
    await broker.publish(
        getattr(raw, "value", b"") or b"",
        dead_letter_topic(topic),
        key=getattr(raw, "key", None),
        headers=dl_headers,
    )
    rejected = _dead_lettered.get()
    if rejected is not None:
        rejected.add((topic, int(getattr(raw, "partition", -1)), int(getattr(raw, "offset", -1))))
    log.error(
        "message dead-lettered",
        extra={
            "topic": topic,
            "partition": getattr(raw, "partition", None),
            "offset": getattr(raw, "offset", None),
            "error_type": type(exc).__name__,
            "consumer": consumer,
        },
    )


@dataclass
class Delivered:
    """One record of a consumed batch: its envelope, or why it could not be read."""

    record: Any
    event: Any = None
    error: Exception | None = None

    def headers(self) -> dict[str, str]:
        return text_headers(self.record)


async def raw_batch(
    msg: KafkaMessage, _original: Callable[[KafkaMessage], Awaitable[object]]
) -> object:
    """FastStream decoder for batch subscribers: hand over the consumer records as they are, so
    that each is validated on its own and one bad record never fails the batch."""
    return list(msg.raw_message)


E = TypeVar("E")

if TYPE_CHECKING:

    class Batch(list[ConsumerRecord[bytes, bytes]], Generic[E]):
        """What a batch subscriber receives: a poll's consumer records as they are (`raw_batch`),
        each to be decoded with `decode_batch` against the topic's envelope `E`."""
else:

    class Batch:
        """`Batch[E]` is `SkipValidation[E]` for FastStream: the AsyncAPI documents describe each
        message as the topic's envelope `E`, and nothing validates the batch as a whole."""

        def __class_getitem__(cls, envelope: Any) -> Any:
            return SkipValidation[envelope]


def decode_batch(records: list[Any], envelope_type: Any) -> list[Delivered]:
    """Validate each record against the topic's envelope union (older versions upcast first)."""
    adapter = _adapter(envelope_type)
    out = []
    for record in records:
        try:
            raw = json.loads(record.value or b"")
            out.append(
                Delivered(
                    record, adapter.validate_python(upcast(raw) if isinstance(raw, dict) else raw)
                )
            )
        except (
            ValueError,
            UnknownEventVersion,
        ) as exc:  # ValidationError and JSONDecodeError are ValueErrors
            out.append(Delivered(record, error=exc))
    return out


class BatchHandling:
    """How a batch subscriber handles a poll. Each record that does not read is dead-lettered
    alone (`readable`); the rest are handled together (`together`), with the settings' retries.
    When that fails for any reason but `unavailable`, they are handled record by record, each
    with its own trace context and retries, and a record that still fails is dead-lettered alone,
    so that one bad record cannot hold up its batch. An unavailable database fails the batch,
    which is then delivered again."""

    def __init__(self, broker: KafkaBroker, settings: ServiceSettings) -> None:
        self.broker = broker
        self.settings = settings
        self.consumer = f"hocba-{settings.service_name}"

    async def retried(self, call: Callable[[], Awaitable[R]]) -> R:
        return await retrying(self.settings.retry_attempts, self.settings.retry_backoff_seconds)(
            call
        )()

    async def readable(
        self, records: list[Any], envelope_type: Any, kinds: tuple[type, ...]
    ) -> list[Delivered]:
        """The batch's records whose event is one of `kinds`; those that do not read are
        dead-lettered, other kinds are skipped."""
        out: list[Delivered] = []
        for item in decode_batch(records, envelope_type):
            if item.error is not None:
                await dead_letter(self.broker, item.record, item.error, self.consumer)
            elif isinstance(item.event.data, kinds):
                out.append(item)
        return out

    async def together(
        self,
        items: list[Delivered],
        whole: Callable[[], Awaitable[R]],
        one: Callable[[Any], Awaitable[object]],
    ) -> R | None:
        """`whole()` for the batch; record by record with `one(event)` if it fails (None then)."""
        try:
            return await self.retried(whole)
        except Exception as exc:
            if unavailable(exc):
                raise
            log.exception(
                "a batch failed; handling it record by record", extra={"consumer": self.consumer}
            )
            for item in items:
                await self.alone(item, one)
            return None

    async def alone(self, item: Delivered, one: Callable[[Any], Awaitable[object]]) -> None:
        token = otel_context.attach(context_from(item.headers()))
        try:
            await self.retried(lambda: one(item.event))
        except Exception as exc:
            if unavailable(exc):
                raise
            await dead_letter(self.broker, item.record, exc, self.consumer)
        finally:
            otel_context.detach(token)


@functools.cache
def _adapter(envelope_type: Any) -> TypeAdapter[Any]:
    return TypeAdapter(envelope_type)


def unavailable(exc: BaseException) -> bool:
    """A passing condition: retry the whole batch later rather than dead-letter it. The database
    cannot be reached, or a transaction still conflicts after its retries (a killed process's
    transaction holds the same documents until the server aborts it): a record dead-lettered for
    that would be lost for no fault of its own."""
    if isinstance(exc, ConnectionFailure):
        return True
    return isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError")


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """FastStream's form of the settings' Kafka security: TLS, SASL (PLAIN or SCRAM) or both."""
    options = settings.kafka_client_options()
    protocol = options["security_protocol"]
    if protocol == "PLAINTEXT":
        return None
    ssl_context = options.get("ssl_context")
    if protocol == "SSL":
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True)
    kind = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
        options["sasl_mechanism"]
    ]
    return kind(
        options["sasl_plain_username"],
        options["sasl_plain_password"],
        ssl_context=ssl_context,
        use_ssl=protocol == "SASL_SSL",
    )


def make_broker(settings: ServiceSettings, audit: KafkaAuditHook | None = None) -> KafkaBroker:
    """A broker whose subscribers dead-letter, trace and audit. No idempotent producer (see README)."""
    holder: dict[str, KafkaBroker] = {}
    broker = KafkaBroker(
        settings.kafka_bootstrap,
        security=broker_security(settings),
        client_id=f"hocba-{settings.service_name}",
        acks="all",
        enable_idempotence=False,
        middlewares=middlewares(f"hocba-{settings.service_name}", lambda: holder["b"], audit),
        logger=logging.getLogger(f"hocba.{settings.service_name}.faststream"),
        graceful_timeout=15.0,
    )
    holder["b"] = broker
    return broker


class SubscriberOptions(TypedDict):
    """The options of a Hocba subscriber, as `broker.subscriber(topic, **options)` takes them. A
    TypedDict, not a `dict[str, Any]`: mypy checks each key against FastStream's overloads and picks
    the one for a single-message subscriber, so a decorated handler keeps its type."""

    group_id: str
    auto_offset_reset: Literal["latest", "earliest", "none"]
    ack_policy: AckPolicy
    decoder: Decoder
    session_timeout_ms: int
    heartbeat_interval_ms: int
    max_poll_records: int


class BatchSubscriberOptions(TypedDict):
    """The options of a batch subscriber; `batch=True` selects FastStream's batch overload."""

    batch: Literal[True]
    group_id: str
    auto_offset_reset: Literal["latest", "earliest", "none"]
    ack_policy: AckPolicy
    decoder: Decoder
    session_timeout_ms: int
    heartbeat_interval_ms: int
    max_records: int
    batch_timeout_ms: int


def subscriber_options(settings: ServiceSettings, purpose: str) -> SubscriberOptions:
    return {
        "group_id": f"hocba-{settings.service_name}-{purpose}",
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.ACK,
        "decoder": decode_envelope,
        "session_timeout_ms": settings.consumer_session_timeout_ms,
        "heartbeat_interval_ms": settings.consumer_heartbeat_interval_ms,
        "max_poll_records": 200,
    }


def batch_subscriber_options(settings: ServiceSettings, purpose: str) -> BatchSubscriberOptions:
    """A batch subscriber: up to `batch_max_records` records a call; the handler dead-letters its bad
    items itself, and a batch whose handler fails is rewound and delivered again."""
    single = subscriber_options(settings, purpose)
    return {
        "batch": True,
        "group_id": single["group_id"],
        "auto_offset_reset": single["auto_offset_reset"],
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "decoder": raw_batch,
        "session_timeout_ms": single["session_timeout_ms"],
        "heartbeat_interval_ms": single["heartbeat_interval_ms"],
        "max_records": settings.batch_max_records,
        "batch_timeout_ms": settings.batch_timeout_ms,
    }


class RelayProducer:
    """The outbox relay's producer: plain aiokafka, one per service process. The relay hands it
    thousands of messages when a bulk operation commits; FastStream's publish path (middlewares,
    a message object each) cost more than aiokafka's own send for every one of them. Batches of up
    to 512 KB (aiokafka's default is 16 KB, five 3 KB year records): a tenth of the produce
    requests, and under a Kafka broker's default 1 MB limit for a batch. Not idempotent (see
    README): a resend is dropped by the consumers' inbox."""

    def __init__(
        self, bootstrap: str, client_id: str, options: Mapping[str, Any] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.options = dict(options or {})
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect (aiokafka binds its producer to the running event loop: made here, not before)."""
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=False,
            max_batch_size=512 * 1024,
            **self.options,
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __call__(
        self, topic: str, key: bytes, value: bytes, headers: Mapping[str, str]
    ) -> Awaitable[Any]:
        """Hand a message to the producer; returns its acknowledgement to await, so that a batch of
        messages is sent without a round trip each."""
        if self._producer is None:
            raise RuntimeError("the relay's producer is not started")
        ack: Awaitable[Any] = await self._producer.send(
            topic,
            value,
            key=key,
            headers=[
                *((k, v.encode()) for k, v in headers.items()),
                ("content-type", b"application/json"),
            ],
        )
        return ack


async def ensure_topics(
    bootstrap: str, names: list[str] | None = None, **options: Any
) -> list[str]:
    """Create Hocba's topics (and their dead-letter topics) that do not exist yet, each with its
    configuration (`TopicSpec.configs`: the retention); an existing topic is left as it is (see
    deploy/README.md to change its retention)."""
    wanted: dict[str, tuple[int, dict[str, str]]] = {}
    for spec in TOPICS:
        wanted[spec.name] = (spec.partitions, spec.configs())
        wanted[spec.dead_letter] = (1, {})
    if names is not None:
        wanted = {n: p for n, p in wanted.items() if n in names}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="hocba-admin", **options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(n, p, 1, topic_configs=c) for n, (p, c) in wanted.items() if n not in existing
        ]
        if missing:
            await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


async def check_kafka(bootstrap: str, timeout: float = 3.0, **options: Any) -> None:
    """Readiness: the broker answers a metadata request."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **options
    )
    try:
        await asyncio.wait_for(admin.start(), timeout)
        await asyncio.wait_for(admin.list_topics(), timeout)
    finally:
        await admin.close()
