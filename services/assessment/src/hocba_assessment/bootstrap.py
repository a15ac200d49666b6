"""Composition root: wires the assessment use cases to MongoDB, Kafka and HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from hocba_contracts.topics import ASSESSMENT_EVENTS
from hocba_runtime.service import ServiceRuntime, create_app
from hocba_runtime.uow import MongoUnitOfWork

from hocba_assessment.adapters.mongo_assessment import (
    MongoAssessmentReader,
    MongoAssessmentUnitOfWork,
    MongoMarkStore,
    backfill_class_profiles,
    backfill_unlocks,
    ensure_indexes,
)
from hocba_assessment.adapters.spreadsheet import SpreadsheetGradebook
from hocba_assessment.application.use_cases import AssessmentService
from hocba_assessment.config import AssessmentSettings
from hocba_assessment.entrypoints import http, kafka
from hocba_assessment.entrypoints.policies import POLICIES

DESCRIPTION = (
    "Subject assessments from school systems (HTTP or Kafka), the Ministry's evaluation rules, "
    "and closing a class's year into locked year records."
)


@dataclass
class Assessment:
    runtime: ServiceRuntime
    service: AssessmentService
    app: FastAPI


async def _backfill(runtime: ServiceRuntime) -> None:
    await backfill_class_profiles(runtime.mongo)
    await backfill_unlocks(runtime.mongo)


def build(settings: AssessmentSettings | None = None) -> Assessment:
    settings = settings or AssessmentSettings()
    runtime = ServiceRuntime(settings, owned_topics=(ASSESSMENT_EVENTS.name,))
    uow = MongoAssessmentUnitOfWork(
        runtime.mongo, MongoUnitOfWork(runtime.mongo, runtime.outbox, "assessment")
    )
    service = AssessmentService(uow, MongoMarkStore(runtime.mongo))
    runtime.on_start(lambda: ensure_indexes(runtime.mongo))
    runtime.on_start(lambda: _backfill(runtime))
    kafka.register(runtime.broker, settings, service, runtime.school_systems)
    app = create_app(
        runtime,
        title="Hocba assessment",
        description=DESCRIPTION,
        routers=[http.router],
        policies=POLICIES,
    )
    app.state.assessment = service
    app.state.reader = MongoAssessmentReader(runtime.mongo)
    app.state.gradebook = SpreadsheetGradebook()
    return Assessment(runtime, service, app)
