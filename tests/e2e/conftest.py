"""The whole stack as separate processes, on free ports, in a temporary state directory: the same
code path as `make run` (hocba_devstack.Stack)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hocba_devstack.localstack import free_port
from hocba_devstack.stack import DEFAULT_PORTS, Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = Path(tmp_path_factory.mktemp("stack"))
    s = Stack(
        state,
        {name: free_port() for name in DEFAULT_PORTS},
        session_timeout_ms=6000,
        heartbeat_ms=1000,
        # Teachers whose ids start with EXT- sign with their own signing app (bulk test).
        extra_env={"signing": {"EXTERNAL_SIGNERS": '["EXT-*"]'}},
    )
    try:
        s.up()
        yield s
    finally:
        s.stop()
