"""The typed envelopes are the registry's, and the package's modules import without a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from hocba_contracts import events
from hocba_contracts.catalog import topic_envelope
from hocba_contracts.topics import TOPICS, all_event_types

SRC = Path(events.__file__).parent
ALIASES = {
    "hocba.records.ingest": events.RecordsIngestEvent,
    "hocba.records.events": events.RecordsEvent,
    "hocba.assessment.ingest": events.AssessmentIngestEvent,
    "hocba.assessment.events": events.AssessmentEvent,
    "hocba.signing.events": events.SigningEvent,
    "hocba.publishing.events": events.PublishingEvent,
}


def _members(alias: Any) -> tuple[Any, ...]:
    if get_origin(alias) is Annotated:
        alias = get_args(alias)[0]
    return get_args(alias) if get_origin(alias) in (Union, type(int | str)) else (alias,)


def test_every_event_type_has_its_typed_envelope_with_its_type_fixed() -> None:
    assert len(events.TYPED_ENVELOPES) == len(all_event_types())
    for event_type, payload in all_event_types().items():
        model = events.envelope_model(payload)
        assert model.model_fields["data"].annotation is payload
        assert get_args(model.model_fields["type"].annotation) == (event_type,)
        assert model.__name__ == f"{payload.__name__}Event" and model.__doc__ == payload.__doc__


def test_each_topics_type_names_exactly_the_registrys_events() -> None:
    assert set(ALIASES) == {t.name for t in TOPICS}
    for spec in TOPICS:
        expected = tuple(events.envelope_model(e) for e in spec.events)
        assert _members(ALIASES[spec.name]) == expected
        assert _members(topic_envelope(spec.name)) == expected


def test_a_topic_of_several_events_is_discriminated_by_the_envelopes_type() -> None:
    for spec in TOPICS:
        alias = ALIASES[spec.name]
        if len(spec.events) > 1:
            assert get_origin(alias) is Annotated and get_args(alias)[1].discriminator == "type"


def test_no_module_of_the_package_imports_inside_a_function() -> None:
    """Imports inside functions hid a cycle (envelope <-> catalog <-> versioning)."""
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
                assert not inner, f"{path.name}: {node.name} imports inside a function"


@pytest.mark.parametrize(
    "module",
    sorted(
        "hocba_contracts." + str(p.relative_to(SRC).with_suffix("")).replace("/", ".")
        for p in SRC.rglob("*.py")
        if p.name != "__init__.py"
    ),
)
def test_each_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    """A cycle shows as an ImportError when one of its modules is imported first."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
