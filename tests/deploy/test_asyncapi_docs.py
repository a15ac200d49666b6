"""The committed AsyncAPI documents (the vendors' integration guide) must match the code."""

from __future__ import annotations

import pytest
import yaml
from hocba_devstack.asyncapi import DOCS_DIR, render
from hocba_devstack.stack import SERVICES

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("service", SERVICES)
def test_committed_asyncapi_document_is_current(service: str) -> None:
    path = DOCS_DIR / f"{service}.yaml"
    assert path.exists(), "run `make docs`"
    current = render(service)
    assert path.read_text(encoding="utf-8") == current, (
        f"docs/asyncapi/{service}.yaml is stale: run `make docs`"
    )
    doc = yaml.safe_load(current)
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert any(a.startswith("hocba.") for a in addresses)
