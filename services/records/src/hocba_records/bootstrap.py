"""Composition root: wires the records use cases to MongoDB, Kafka and HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from hocba_contracts.topics import RECORDS_EVENTS
from hocba_runtime.service import ServiceRuntime, create_app
from hocba_runtime.uow import MongoUnitOfWork

from hocba_records.adapters.mongo_records import (
    MongoRecordsReader,
    MongoRecordsUnitOfWork,
    ensure_indexes,
)
from hocba_records.application.use_cases import RecordsService
from hocba_records.config import RecordsSettings
from hocba_records.entrypoints import http, kafka
from hocba_records.entrypoints.policies import POLICIES

DESCRIPTION = "Schools, classes, students and enrollments, from school systems by HTTP or Kafka."


@dataclass
class Records:
    runtime: ServiceRuntime
    service: RecordsService
    app: FastAPI


def build(settings: RecordsSettings | None = None) -> Records:
    settings = settings or RecordsSettings()
    runtime = ServiceRuntime(settings, owned_topics=(RECORDS_EVENTS.name,))
    uow = MongoRecordsUnitOfWork(
        runtime.mongo, MongoUnitOfWork(runtime.mongo, runtime.outbox, "records")
    )
    service = RecordsService(uow)
    runtime.on_start(lambda: ensure_indexes(runtime.mongo))
    kafka.register(runtime.broker, settings, service, runtime.school_systems)
    app = create_app(
        runtime,
        title="Hocba records",
        description=DESCRIPTION,
        routers=[http.router],
        policies=POLICIES,
    )
    app.state.records = service
    app.state.reader = MongoRecordsReader(runtime.mongo)
    return Records(runtime, service, app)
