"""What looks like a personal ID number or a date never leaves a service in a log line or an error."""

from __future__ import annotations

import json
import logging

import pytest
from hocba_runtime.kafka import _error_text
from hocba_runtime.logs import JsonFormatter
from hocba_runtime.privacy import redact
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.unit


def test_redact_blanks_personal_id_numbers_and_dates_and_keeps_ids_timestamps_and_school_years() -> (
    None
):
    text = (
        'dup key: { citizen_id: "079218001234" }, born 2018-03-14 (14/03/2018); at 2026-12-02T04:07:22Z, '
        "school year 2024-2025, student HS0790120015, trace 4bf92f3577b34da6a3ce929d0e0e4736"
    )
    out = redact(text)
    assert "079218001234" not in out and "2018-03-14" not in out and "14/03/2018" not in out
    assert "2026-12-02T04:07:22Z" in out and "2024-2025" in out and "HS0790120015" in out
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in out


def test_a_log_line_carries_no_personal_id_even_when_code_passes_one_by_mistake() -> None:
    record = logging.LogRecord(
        "t", logging.ERROR, __file__, 1, "lookup failed for %s", ("079218001234",), None
    )
    record.detail = "born 2018-03-14"
    line = json.loads(JsonFormatter("test").format(record))
    assert "079218001234" not in json.dumps(line) and "2018-03-14" not in json.dumps(line)


def test_a_dead_letter_error_never_quotes_the_databases_duplicate_key_message() -> None:
    exc = DuplicateKeyError(
        "E11000 duplicate key error collection: students index: citizen_id_1 dup key: "
        '{ citizen_id: "079218001234" }',
        11000,
    )
    text = _error_text(exc)
    assert "079218001234" not in text and "unique" in text
