"""Topic administration for deployments.

`python -m hocba_runtime.admin ensure-topics --bootstrap HOST:PORT` creates Hocba's topics and
their dead-letter topics where missing (compose's init job; the local stack does the same).
Kafka security comes from the environment as for a service, with the prefix `HOCBA_ADMIN_`
(`HOCBA_ADMIN_KAFKA_SECURITY_PROTOCOL=SASL_SSL`, `..._KAFKA_SASL_MECHANISM`, `..._KAFKA_SASL_USERNAME`,
`..._KAFKA_SASL_PASSWORD`, `..._KAFKA_SSL_CAFILE`).
`python -m hocba_runtime.admin topics-spec` prints the topic specification kept in
deploy/topics.yaml, generated from the contracts' registry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import ClassVar

from hocba_contracts import TOPICS
from pydantic_settings import SettingsConfigDict

from hocba_runtime.kafka import ensure_topics
from hocba_runtime.settings import ServiceSettings


class AdminSettings(ServiceSettings):
    """Only the Kafka connection is read; the admin job serves no API, so it needs no issuer."""

    model_config = SettingsConfigDict(env_prefix="HOCBA_ADMIN_", extra="ignore")
    serves_api: ClassVar[bool] = False

    service_name: str = "admin"


def topics_spec() -> str:
    """The topic registry as YAML (no YAML library needed: the shape is fixed)."""
    lines = [
        "# Generated from hocba_contracts.topics by `python -m hocba_runtime.admin topics-spec`.",
        "# Do not edit: change the registry and regenerate (a test compares the two).",
        "topics:",
    ]
    for spec in TOPICS:
        lines += [
            f"  - name: {spec.name}",
            f"    owner: {spec.owner}",
            f"    key: {json.dumps(spec.key, ensure_ascii=False)}",
            f"    partitions: {spec.partitions}",
            f"    ingest: {str(spec.ingest).lower()}",
            f"    dead_letter: {spec.dead_letter}",
            *(f"    {k}: {json.dumps(v)}" for k, v in spec.configs().items()),
            f"    description: {json.dumps(spec.description, ensure_ascii=False)}",
            "    events:",
            *(f"      - {e.event_type} v{e.version}" for e in spec.events),
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hocba-admin")
    parser.add_argument("command", choices=["ensure-topics", "topics-spec"])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the broker")
    args = parser.parse_args(argv)
    if args.command == "topics-spec":
        print(topics_spec(), end="")
        return 0
    deadline = time.monotonic() + args.wait
    while True:
        try:
            created = asyncio.run(
                ensure_topics(args.bootstrap, **AdminSettings().kafka_client_options())
            )
            break
        except Exception as exc:  # noqa: BLE001 - the broker may still be starting
            if time.monotonic() > deadline:
                print(f"error: broker {args.bootstrap} not reachable: {type(exc).__name__}")
                return 1
            time.sleep(2)
    print(f"topics created: {', '.join(created) if created else 'none (all exist)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
