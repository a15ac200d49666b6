"""The assessment service against the real local broker and database, for each test."""

from __future__ import annotations

import pytest
from hocba_assessment.bootstrap import build
from hocba_assessment.config import AssessmentSettings
from hocba_devstack.testing import LocalInfra, unique


@pytest.fixture
async def assessment(local_infra: LocalInfra, unique_db):  # type: ignore[no-untyped-def]
    # A consumer group of its own per test: no wait for the previous test's members to time out.
    settings = AssessmentSettings(
        **local_infra.settings(
            service_name=unique("assessment"), mongo_database=unique_db("assessment")
        )
    )
    svc = build(settings)
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()
