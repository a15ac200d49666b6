"""JSON Schema snapshots of every payload, and the check that guards consumers.

Snapshots live in `libs/contracts/schemas/<event type>.v<version>.json`. A change that would
break a consumer (a field removed, a type changed, a new required field, an optional field made
required) must bump the payload's version and register an upcaster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hocba_contracts.catalog import all_event_types
from hocba_contracts.envelope import EventPayload

SNAPSHOT_DIR = Path(__file__).resolve().parents[2] / "schemas"
_NOISE = {"title", "description", "examples", "default"}


def payload_schema(model: type[EventPayload]) -> dict[str, Any]:
    return model.model_json_schema(mode="validation")


def snapshot_path(event_type: str, version: int, directory: Path = SNAPSHOT_DIR) -> Path:
    return directory / f"{event_type}.v{version}.json"


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_snapshots(directory: Path = SNAPSHOT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for event_type, model in sorted(all_event_types().items()):
        path = snapshot_path(event_type, model.version, directory)
        path.write_text(render(payload_schema(model)), encoding="utf-8")
        written.append(path)
    return written


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _resolve(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _resolve(v, defs) for k, v in node.items() if k not in _NOISE and k != "$defs"}
    if isinstance(node, list):
        return [_resolve(v, defs) for v in node]
    return node


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """What in `new` would break a consumer written against `old` (or a producer of `old`)."""
    old_r = _resolve(old, old.get("$defs", {}))
    new_r = _resolve(new, new.get("$defs", {}))
    return _compare(old_r, new_r, path or "data")


def _compare(old: Any, new: Any, path: str) -> list[str]:
    problems: list[str] = []
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return [] if old == new else [f"{path}: changed from {old!r} to {new!r}"]
    old_props, new_props = old.get("properties"), new.get("properties")
    if isinstance(old_props, dict) and isinstance(new_props, dict):
        for name in old_props:
            if name not in new_props:
                problems.append(f"{path}.{name}: field removed")
            else:
                problems += _compare(old_props[name], new_props[name], f"{path}.{name}")
        old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
        for name in sorted(new_req - old_req):
            problems.append(
                f"{path}.{name}: now required"
                if name in old_props
                else f"{path}.{name}: new required field"
            )
        rest_old = {k: v for k, v in old.items() if k not in {"properties", "required"}}
        rest_new = {k: v for k, v in new.items() if k not in {"properties", "required"}}
        if rest_old != rest_new:
            problems.append(f"{path}: constraints changed")
        return problems
    for container in ("items", "prefixItems"):
        if container in old and container in new:
            # Arrays: compare what they hold (an optional field added inside is compatible).
            inner_old, inner_new = old[container], new[container]
            if (
                isinstance(inner_old, list)
                and isinstance(inner_new, list)
                and len(inner_old) == len(inner_new)
            ):
                for i, (a, b) in enumerate(zip(inner_old, inner_new, strict=True)):
                    problems += _compare(a, b, f"{path}[{i}]")
            else:
                problems += _compare(inner_old, inner_new, f"{path}[]")
            if {k: v for k, v in old.items() if k != container} != {
                k: v for k, v in new.items() if k != container
            }:
                problems.append(f"{path}: constraints changed")
            return problems
    if old != new:
        problems.append(f"{path}: type or constraints changed")
    return problems
