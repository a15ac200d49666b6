"""docker-compose.yml cannot run on this machine; this checks that what it names exists in code:
every service, Dockerfile, port, command and HOCBA_* setting."""

from __future__ import annotations

import importlib
import inspect
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hocba_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("records", "assessment", "signing", "publishing", "lookup")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"hocba_{service}.config")
    found = [c for _, c in inspect.getmembers(module, inspect.isclass)
             if issubclass(c, ServiceSettings) and c is not ServiceSettings]
    assert len(found) == 1, f"hocba_{service}.config should define one settings class"
    return found[0]


def resolve(value: str) -> str:
    """Compose interpolation as an operator's .env would fill it: defaults, or a placeholder."""
    value = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{[A-Z0-9_]+:\?[^}]*\}", "set-by-the-operator-in-dot-env", value)


def test_all_five_services_and_the_infrastructure_are_there(compose: dict[str, Any]) -> None:
    names = set(compose["services"])
    assert set(SERVICES) <= names
    assert {"kafka", "mongo", "otel-collector"} <= names
    kafka_env = compose["services"]["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"], "Kafka must run in KRaft mode"
    assert "--replSet" in compose["services"]["mongo"]["command"], "MongoDB must be a replica set (transactions)"


def test_images_are_pinned_and_everything_long_running_has_a_health_check(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), f"{name}: pin the image ({image!r})"
        if svc.get("restart") != "no":
            assert "healthcheck" in svc or name == "otel-collector", f"{name}: add a healthcheck"


@pytest.mark.parametrize("service", SERVICES)
def test_service_build_port_and_settings_exist_in_code(compose: dict[str, Any], service: str) -> None:
    svc = compose["services"][service]
    dockerfile = ROOT / svc["build"]["dockerfile"]
    assert dockerfile.exists()
    text = dockerfile.read_text()
    assert f'"-m", "hocba_{service}"' in text, "the image must start the service module"
    importlib.import_module(f"hocba_{service}.__main__")

    cls = settings_class(service)
    prefix = f"HOCBA_{service.upper()}_"
    env = {k: resolve(str(v)) for k, v in svc["environment"].items()}
    for key in env:
        assert key.startswith(prefix), f"{service}: {key} is not one of this service's settings"
        assert key[len(prefix):].lower() in cls.model_fields, f"{service}: {key} names no setting of {cls.__name__}"
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        settings = cls()  # values must parse (lists as JSON, numbers, booleans)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    port = settings.http_port
    assert port == cls().http_port, "compose must use the service's documented port"
    assert f"{port}:{port}" in svc["ports"]
    assert f"EXPOSE {port}" in text
    assert str(port) in str(svc["healthcheck"]["test"])
    for volume in svc.get("volumes", []):
        assert (ROOT / volume.split(":")[0]).exists(), f"{service}: mounted {volume} is missing"


def test_init_job_and_collector_config_exist(compose: dict[str, Any]) -> None:
    command = compose["services"]["kafka-topics"]["command"]
    module = command[command.index("-m") + 1]
    assert hasattr(importlib.import_module(module), "main")
    for volume in compose["services"]["otel-collector"]["volumes"]:
        assert (ROOT / volume.split(":")[0]).exists()


def test_committed_topic_specification_matches_the_registry() -> None:
    from hocba_runtime.admin import topics_spec

    committed = (ROOT / "deploy" / "topics.yaml").read_text()
    assert committed == topics_spec(), "run `python -m hocba_runtime.admin topics-spec > deploy/topics.yaml`"
    names = [t["name"] for t in yaml.safe_load(committed)["topics"]]
    assert "hocba.records.ingest" in names and len(names) == len(set(names))
