"""The lease that lets one replica at a time run a job, against the real local database."""

from __future__ import annotations

import asyncio

import pytest
from hocba_devstack.testing import LocalInfra, eventually, unique
from hocba_runtime.lease import Lease, LeasedJob
from hocba_runtime.mongo import Mongo

pytestmark = pytest.mark.integration


async def test_a_long_run_of_rounds_keeps_the_lease_from_a_rival(local_infra: LocalInfra) -> None:
    """A job busy for longer than its lease renews the lease while it works: a rival replica asking
    for it meanwhile is refused, and only takes it over once the holder has stopped."""
    mongo = Mongo(local_infra.mongo_uri, unique("t_lease"))
    seconds = 0.6
    holder, rival = Lease(mongo, "lease", "relay", seconds), Lease(mongo, "lease", "relay", seconds)
    rounds = 0

    async def work() -> bool:  # a backlog: each round is short, the whole run lasts 4 leases
        nonlocal rounds
        rounds += 1
        await asyncio.sleep(0.05)
        return rounds < 48

    async def idle() -> None:
        await asyncio.sleep(60)

    job = LeasedJob(holder, work, idle, "test-job")
    job.start()
    try:
        # the holder takes the lease first, before the rival asks for it
        await eventually(lambda: rounds > 0, timeout=10, interval=0.01)
        deadline = asyncio.get_running_loop().time() + 10
        taken = []
        while rounds < 48:
            assert asyncio.get_running_loop().time() < deadline, "the job stopped working"
            taken.append(await rival.hold())
            await asyncio.sleep(0.1)
        assert len(taken) > 10
        assert not any(taken), "the rival took the lease while the holder was still working"
    finally:
        await job.stop()
    # once the holder has stopped, its lease runs out and the rival takes it
    assert await eventually(rival.hold, timeout=10 * seconds, interval=0.05) is True
