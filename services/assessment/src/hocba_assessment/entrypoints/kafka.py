"""Assessment's Kafka subscribers: the roster and the class profiles from records' events, marks
and closings from school systems on `hocba.assessment.ingest`.

Every ingest event is admitted before anything is stored: its school is its class's school (from
the class profiles), and its source must be registered for that school; an event that is not is
dead-lettered with the reason, and the rest of its batch goes on. Records' events may arrive a
little after a school system's assessments of a new class, so a batch naming classes not known yet
waits for them (`unknown_class_wait_seconds`, polling the profiles) before their events are
dead-lettered.

The two high-volume feeds (the roster and the school systems' assessments) are consumed in
batches: a poll's worth of records is validated record by record, stored in a few bulk round
trips, and only the records that fail are dead-lettered, each with its own reason. A batch that
cannot be stored at all (the database is unreachable) is rewound and delivered again.

Marks and closes go through the same use cases as over HTTP (`submit_marks`, `close_classes`), so
their rules are the same: a close of a secondary class whose students lack assessments is refused,
nothing locked, the refusal in the class's audit trail, and the event is dead-lettered naming every
missing assessment (the `hocba-error` header, and each one as JSON in `hocba-error-details`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker
from hocba_contracts.events import AssessmentIngestEvent as IngestEvent
from hocba_contracts.events import RecordsEvent, SigningEvent
from hocba_contracts.payloads import assessment as ev
from hocba_contracts.payloads import records as rec
from hocba_contracts.payloads.common import ClassProfile
from hocba_contracts.payloads.signing import SigningRejected
from hocba_contracts.topics import ASSESSMENT_INGEST, RECORDS_EVENTS, SIGNING_EVENTS
from hocba_runtime.auth import SchoolSystems
from hocba_runtime.kafka import (
    Batch,
    Delivered,
    NotAdmitted,
    PermanentError,
    admit,
    batch_subscriber_options,
    dead_letter,
    decode_batch,
    retrying,
    subscriber_options,
    unavailable,
)
from hocba_runtime.tracing import context_from
from opentelemetry import context as otel_context

from hocba_assessment.application.intake import ITEM_TYPES, Item, what
from hocba_assessment.application.use_cases import (
    AssessmentService,
    CloseRequest,
    IngestOutcome,
    close_refusal_text,
    record_signing_rejection,
)
from hocba_assessment.config import AssessmentSettings
from hocba_assessment.domain.model import ClassProfileUpdate, IncompleteAssessments, RosterEntry

log = logging.getLogger("hocba.assessment.kafka")
CLOSE_GROUP = 20
"""Classes closed in one transaction (about 700 students): big enough to amortise round trips,
small enough for the database's transaction limits."""
R = TypeVar("R")


class UnknownClass(PermanentError):
    """An ingest event for a class that records has not registered (as far as assessment knows)."""


class CloseRefused(PermanentError):
    """A close the use case refused (students lack assessments): `details` names each of them."""

    def __init__(self, refusal: IncompleteAssessments) -> None:
        super().__init__(close_refusal_text(refusal))
        self.details = refusal.details


def register(
    broker: KafkaBroker,
    settings: AssessmentSettings,
    service: AssessmentService,
    systems: SchoolSystems,
) -> None:
    """The batch handlers receive a list of raw consumer records (see `raw_batch`) and validate
    each one themselves; the annotation documents what each message is (AsyncAPI), unvalidated."""
    batches = BatchHandler(broker, settings, service, systems)

    @broker.subscriber(
        RECORDS_EVENTS.name,
        title="assessment-roster",
        description="The class rosters and profiles, from records' classes and enrollments (in batches).",
        **batch_subscriber_options(settings, "roster"),
    )
    async def on_records_events(records: Batch[RecordsEvent]) -> None:
        await batches.records(records)

    @broker.subscriber(
        SIGNING_EVENTS.name,
        title="assessment-signing-feedback",
        description="Refusals to sign: records sent back to the school for correction.",
        **subscriber_options(settings, "signing-feedback"),
    )
    @retrying(settings.retry_attempts, settings.retry_backoff_seconds)
    async def on_signing_event(event: SigningEvent) -> None:
        data = event.data
        if isinstance(data, SigningRejected):
            await record_signing_rejection(
                service,
                data.class_id,
                data.school_year,
                data.record_id,
                data.role,
                data.signer_id,
                data.reason,
                cause=event,
            )

    @broker.subscriber(
        ASSESSMENT_INGEST.name,
        title="assessment-ingest",
        description=ASSESSMENT_INGEST.description + " Consumed in batches.",
        **batch_subscriber_options(settings, "ingest"),
    )
    async def on_ingest(records: Batch[IngestEvent]) -> None:
        await batches.ingest(records)


class BatchHandler:
    def __init__(
        self,
        broker: KafkaBroker,
        settings: AssessmentSettings,
        service: AssessmentService,
        systems: SchoolSystems,
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.service = service
        self.systems = systems
        self.consumer = f"hocba-{settings.service_name}"

    async def _retried(self, call: Callable[[], Awaitable[R]]) -> R:
        return await retrying(self.settings.retry_attempts, self.settings.retry_backoff_seconds)(
            call
        )()

    async def _reject(self, item: Delivered, exc: Exception) -> None:
        await dead_letter(self.broker, item.record, exc, self.consumer)

    async def _each(
        self, items: list[Delivered], handle: Callable[[Delivered], Awaitable[None]]
    ) -> None:
        """One at a time, each with its own retries; what still fails is dead-lettered alone."""
        for item in items:
            token = otel_context.attach(context_from(item.headers()))
            try:
                await self._retried(lambda item=item: handle(item))  # type: ignore[misc]
            except Exception as exc:
                if unavailable(exc):
                    raise
                await self._reject(item, exc)
            finally:
                otel_context.detach(token)

    async def ingest(self, records: list[Any]) -> None:
        items = decode_batch(records, IngestEvent)
        readable: list[Delivered] = []
        for item in items:
            if item.error is not None:
                await self._reject(item, item.error)
            else:
                readable.append(item)
        class_ids = {i.event.data.class_id for i in readable}
        schools = await self._retried(lambda: self.service.class_schools(class_ids))
        # The known classes' events go first; those of classes not known yet wait for them. A class's
        # events stay together, so each class keeps its order.
        await self._admitted([i for i in readable if i.event.data.class_id in schools], schools)
        later = [i for i in readable if i.event.data.class_id not in schools]
        if later:
            schools.update(await self._wait_for({i.event.data.class_id for i in later}))
            await self._admitted(later, schools)

    async def _admitted(self, items: list[Delivered], schools: dict[str, str]) -> None:
        """Store the items admitted for their class's school; dead-letter the others with the reason."""
        run: list[
            Delivered
        ] = []  # consecutive assessments, or closes, handled together in their place
        for item in items:
            refusal = self._refusal(item, schools)
            if refusal is not None:
                await self._reject(item, refusal)
                continue
            if run and _is_close(run[0]) != _is_close(item):
                await self._run(run)
                run = []
            run.append(item)
        await self._run(run)

    async def _wait_for(self, class_ids: set[str]) -> dict[str, str]:
        """The schools of classes not known yet, read again at growing intervals until they are known
        or `unknown_class_wait_seconds` have passed (a school system keys a class's events by the
        class, so one unknown class holds up a batch or two, not the topic). The known classes'
        reads cost nothing extra: one read of a batch's classes not known to this process yet."""
        schools: dict[str, str] = {}
        waiting = set(class_ids)
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self.settings.unknown_class_wait_seconds, 0.1
        while waiting and loop.time() < deadline:
            await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
            pause = min(pause * 2, 2.0)
            found = await self._retried(functools.partial(self.service.class_schools, set(waiting)))
            schools.update(found)
            waiting -= found.keys()
        return schools

    def _refusal(self, item: Delivered, schools: dict[str, str]) -> PermanentError | None:
        """Why an ingest event may not be stored: its class is unknown, or its source is not
        registered for the class's school."""
        event = item.event
        school_id = schools.get(event.data.class_id)
        if school_id is None:
            return UnknownClass(
                f"class {event.data.class_id} is not known to assessment: register the class with records "
                "(class_registration_submitted on hocba.records.ingest) first, then send the event again"
            )
        try:
            admit(self.systems, event.source, school_id)
        except NotAdmitted as exc:
            return exc
        return None

    async def _run(self, run: list[Delivered]) -> None:
        if run and _is_close(run[0]):
            for i in range(0, len(run), CLOSE_GROUP):
                await self._closes(run[i : i + CLOSE_GROUP])
        else:
            await self._assessments(run)

    async def _closes(self, run: list[Delivered]) -> None:
        requests = [_close_request(i) for i in run]
        try:
            closing = await self._retried(lambda: self.service.close_classes(requests))
        except Exception as exc:
            if unavailable(exc):
                raise
            log.exception(
                "closing a group of classes failed; closing them one by one",
                extra={"size": len(run)},
            )
            await self._each(run, self._one_ingest)
            return
        for index, refusal in sorted(closing.refused.items()):
            await self._reject(run[index], CloseRefused(refusal))

    async def _assessments(self, run: list[Delivered]) -> None:
        if not run:
            return
        try:
            outcomes = await self._retried(
                lambda: self.service.ingest([(i.event.id, i.event.data) for i in run])
            )
        except Exception as exc:
            if unavailable(exc):
                raise
            log.exception(
                "a batch of assessments failed; storing them one by one", extra={"size": len(run)}
            )
            await self._each(run, self._one_ingest)
            return
        for item, outcome in zip(run, outcomes, strict=True):
            if outcome.status == "rejected":
                await self._reject(item, _rejection(item.event.data, outcome))

    async def _one_ingest(self, item: Delivered) -> None:
        data = item.event.data
        if isinstance(data, ITEM_TYPES):
            [outcome] = await self.service.ingest([(item.event.id, data)])
            if outcome.status == "rejected":
                raise _rejection(data, outcome)
        elif isinstance(data, ev.ClassYearCloseRequested):
            closing = await self.service.close_classes([_close_request(item)])
            if closing.refused:
                raise CloseRefused(closing.refused[0])

    async def records(self, records: list[Any]) -> None:
        items = decode_batch(records, RecordsEvent)
        classes: list[ClassProfileUpdate] = []
        enrolments: list[tuple[RosterEntry, Any]] = []
        for item in items:
            if item.error is not None:
                await self._reject(item, item.error)
                continue
            data = item.event.data
            if isinstance(data, rec.StudentEnrolled):
                enrolments.append(
                    (RosterEntry(data.student, data.school, data.class_info), item.event)
                )
            elif isinstance(data, rec.ClassRegistered):
                classes.append(_class_update(item.event))
        if classes or enrolments:
            try:
                await self._retried(lambda: self.service.record_roster(classes, enrolments))
            except Exception as exc:
                if unavailable(exc):
                    raise
                log.exception("a batch of roster events failed; storing them one by one")
                await self._each([i for i in items if i.error is None], self._one_record)

    async def _one_record(self, item: Delivered) -> None:
        data = item.event.data
        if isinstance(data, rec.StudentEnrolled):
            await self.service.record_roster(
                [], [(RosterEntry(data.student, data.school, data.class_info), item.event)]
            )
        elif isinstance(data, rec.ClassRegistered):
            await self.service.record_roster([_class_update(item.event)], [])


def _class_update(event: Any) -> ClassProfileUpdate:
    return ClassProfileUpdate(ClassProfile.model_validate(event.data.model_dump()), event.time)


def _close_request(item: Delivered) -> CloseRequest:
    data = item.event.data
    return CloseRequest(
        data.class_id, data.school_year, data.requested_by, item.event, data.even_if_incomplete
    )


def _is_close(item: Delivered) -> bool:
    return isinstance(item.event.data, ev.ClassYearCloseRequested)


def _rejection(data: Item, outcome: IngestOutcome) -> PermanentError:
    problems = "; ".join(f"{p.field}: {p.problem}" for p in outcome.problems)
    return PermanentError(
        f"assessment for student {data.student_id}, {what(data)} rejected: {problems}"
    )
