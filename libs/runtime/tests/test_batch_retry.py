"""What a batch consumer retries instead of dead-lettering: a database it cannot reach, and a
transaction that still conflicts after its retries (after a kill, the dead process's transaction
holds the same documents until the server aborts it). A record dead-lettered for either would be
lost for no fault of its own; anything else is the record's own problem."""

from __future__ import annotations

import pytest
from hocba_runtime.kafka import unavailable
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure

pytestmark = pytest.mark.unit


def conflict() -> OperationFailure:
    return OperationFailure(
        "WriteConflict error: this operation conflicted with another operation",
        112,
        {"errorLabels": ["TransientTransactionError"], "code": 112, "ok": 0},
    )


def test_an_unreachable_database_and_a_lasting_conflict_are_retried_later() -> None:
    assert unavailable(ConnectionFailure("no server"))
    assert unavailable(conflict())


def test_a_records_own_problem_is_not() -> None:
    assert not unavailable(OperationFailure("bad query", 2, {"code": 2, "ok": 0}))
    assert not unavailable(DuplicateKeyError("dup", 11000))
    assert not unavailable(ValueError("not a record"))
