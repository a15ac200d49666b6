"""The assessment service against the real local broker and database, for each test."""

from __future__ import annotations

import pytest
from hocba_assessment.bootstrap import build
from hocba_assessment.config import AssessmentSettings
from hocba_runtime.testing import LocalInfra, unique


@pytest.fixture
async def assessment(local_infra: LocalInfra, unique_db):  # type: ignore[no-untyped-def]
    # A consumer group of its own per test: no wait for the previous test's members to time out.
    settings = AssessmentSettings(
        service_name=unique("assessment"), kafka_bootstrap=local_infra.kafka_bootstrap, mongo_uri=local_infra.mongo_uri,
        mongo_database=unique_db("assessment"), consumer_session_timeout_ms=6000,
        consumer_heartbeat_interval_ms=1000, retry_backoff_seconds=0.01,
    )
    svc = build(settings)
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()
