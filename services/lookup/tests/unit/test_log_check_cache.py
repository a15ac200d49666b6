"""Proven inclusions kept for a while: only `included` is kept, for the document, version and
content it was proven for; every other answer is asked again at the next verification."""

from __future__ import annotations

import pytest
from hocba_lookup.adapters.log_inclusion import CachingLogChecker
from hocba_lookup.domain.model import LogCheck, LogState

pytestmark = pytest.mark.unit


class Log:
    """A LogChecker that answers what it is told to, counting the questions."""

    def __init__(self) -> None:
        self.state: LogState = "included"
        self.asked: list[tuple[str, int | None, str]] = []

    async def check(
        self, document_id: str, record_version: int | None, content_sha256: str
    ) -> LogCheck:
        self.asked.append((document_id, record_version, content_sha256))
        return LogCheck(self.state, "vi", "en", index=len(self.asked))


async def test_an_inclusion_is_kept_for_its_time_and_its_document_version_and_content() -> None:
    log, now = Log(), [100.0]
    checker = CachingLogChecker(log, ttl_seconds=60, clock=lambda: now[0])
    first = await checker.check("HB-1", 1, "aa")
    assert first.included and await checker.check("HB-1", 1, "aa") is first
    assert len(log.asked) == 1 and checker.hits == 1
    # another version or other content is proven on its own
    await checker.check("HB-1", 2, "aa")
    await checker.check("HB-1", 1, "bb")
    assert len(log.asked) == 3
    # after its time the log is asked again, and what it says now stands
    now[0] += 61
    log.state = "forged"
    again = await checker.check("HB-1", 1, "aa")
    assert again.state == "forged" and len(log.asked) == 4
    assert (await checker.check("HB-1", 1, "aa")).state == "forged" and len(log.asked) == 5


@pytest.mark.parametrize("state", ["missing", "mismatch", "forged", "unavailable", "unconfigured"])
async def test_an_answer_other_than_included_is_asked_again(state: LogState) -> None:
    log = Log()
    log.state = state
    checker = CachingLogChecker(log)
    assert (await checker.check("HB-1", 1, "aa")).state == state
    log.state = "included"  # the publication reached the log, publishing is back
    assert (await checker.check("HB-1", 1, "aa")).included
    assert len(log.asked) == 2


async def test_it_keeps_at_most_its_size() -> None:
    log = Log()
    checker = CachingLogChecker(log, max_entries=2)
    for document_id in ("HB-1", "HB-2", "HB-3", "HB-1"):
        await checker.check(document_id, 1, "aa")
    assert len(log.asked) == 4  # HB-1, the oldest, was let go
