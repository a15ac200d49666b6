"""The tests' reading of a shared topic: a record that is no envelope (a dead-lettering test's
malformed message) is not one of the topic's payloads, so it cannot break a later test."""

from __future__ import annotations

import json
from types import SimpleNamespace

from hocba_devstack.testing import payloads


def test_only_envelopes_are_payloads() -> None:
    envelope = {"id": "e-1", "type": "hocba.publishing.record_published", "data": {"x": 1}}
    records = [
        SimpleNamespace(value=b"not an event 01dbfdaa"),
        SimpleNamespace(value=json.dumps(envelope).encode()),
        SimpleNamespace(value=b'{"marker": "no data"}'),
        SimpleNamespace(value=b"[1, 2]"),
        SimpleNamespace(value=None),
    ]
    assert payloads(records) == [envelope]
