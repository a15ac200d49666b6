"""AsyncAPI documents generated from each service's FastStream broker (committed under docs/).

They are the integration guide for school systems and other provinces: every topic a service
reads or writes, with the envelope and payload schemas. `make docs` rewrites them; a test fails
when the committed files are behind the code.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import yaml

from hocba_devstack.stack import SERVICES

DOCS_DIR = Path(__file__).resolve().parents[4] / "docs" / "asyncapi"


def render(service: str) -> str:
    # Documents must not depend on the environment they are generated in.
    # The app is built, never started: development settings, so that no issuer or secret is needed.
    saved = {k: os.environ.pop(k) for k in [k for k in os.environ if k.startswith("HOCBA_")]}
    os.environ[f"HOCBA_{service.upper()}_ENVIRONMENT"] = "development"
    try:
        bootstrap = importlib.import_module(f"hocba_{service}.bootstrap")
        built = bootstrap.build()
        spec = built.runtime.asyncapi(f"Hocba {service}", bootstrap.DESCRIPTION).to_specification()
        built.runtime.mongo.close()
        # Channel order follows FastStream's internal sets: sort keys so the file is stable.
        return str(
            yaml.safe_dump(
                yaml.safe_load(spec.to_yaml()), sort_keys=True, allow_unicode=True, width=100
            )
        )
    finally:
        os.environ.pop(f"HOCBA_{service.upper()}_ENVIRONMENT", None)
        os.environ.update(saved)


def write_all(directory: Path = DOCS_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for service in SERVICES:
        path = directory / f"{service}.yaml"
        path.write_text(render(service), encoding="utf-8")
        written.append(path)
    return written
