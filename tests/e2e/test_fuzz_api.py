"""Every service's OpenAPI, fuzzed with schemathesis against the running stack: generated requests,
valid and invalid, for every operation, as every role (of the smoke check's school) and as nobody.
No answer may be a server error, and every answer must match the schema its operation documents.

HOCBA_FUZZ_EXAMPLES sets the examples per operation, caller and mode (default 6). The figures
(requests per service, server errors, schema violations) are printed at the end.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hocba_devstack import smoke
from hocba_devstack.stack import SERVICES, Stack
from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance
from schemathesis.core.result import Ok

log = logging.getLogger(__name__)

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("HOCBA_FUZZ_EXAMPLES", "6"))
SCHOOL = smoke.SMOKE_SCHOOL


def callers(stack: Stack) -> dict[str, dict[str, str]]:
    return {
        "anonymous": {},
        "school_system": stack.system_headers(smoke.SOURCE),
        "teacher": stack.headers("teacher", SCHOOL, f"{SCHOOL}-GV"),
        "principal": stack.headers("principal", SCHOOL, f"{SCHOOL}-HT"),
        "school_admin": stack.headers("school_admin", SCHOOL, f"{SCHOOL}-QT"),
        "operator": stack.headers("operator"),
        "auditor": stack.headers("auditor"),
        "service": {
            "authorization": "Bearer "
            + stack.issuer.token(roles=["service"], client_id="hocba-lookup")
        },
    }


def _runner(
    base: str,
    operation: Any,
    mode: GenerationMode,
    caller: str,
    headers: dict[str, str],
    figures: Counter[str],
    failures: list[str],
) -> Any:
    """One hypothesis test: generated cases of one operation, in one mode, sent as one caller."""
    where = f"{operation.method.upper()} {operation.path}"

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(case=operation.as_strategy(mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base, headers=headers, timeout=30)
        figures["requests"] += 1
        figures[f"status {response.status_code // 100}xx"] += 1
        try:
            case.validate_response(
                response, checks=[not_a_server_error, response_schema_conformance]
            )
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failure is counted and reported
            kind = "server error" if response.status_code >= 500 else "schema violation"
            figures[kind + "s"] += 1
            failures.append(
                f"{where} as {caller} ({mode.value}): {response.status_code} {kind}: {str(exc)[:300]}"
            )

    return run


def fuzz(stack: Stack, service: str) -> tuple[Counter[str], list[str]]:
    base = stack.url(service)
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    figures: Counter[str] = Counter()
    failures: list[str] = []
    who = callers(stack)
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), (
            f"{service}'s OpenAPI document has an operation that cannot be read: {result.err()}"
        )
        operation = result.ok()
        for caller, headers in who.items():
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    _runner(base, operation, mode, caller, headers, figures, failures)()
                except Unsatisfiable:
                    figures["operations that generated nothing invalid"] += 1
    return figures, [f"{service} {f}" for f in failures]


def test_no_generated_request_of_any_role_gets_a_server_error_or_an_answer_outside_its_schema(
    stack: Stack,
) -> None:
    report, failures = [], []
    for service in SERVICES:
        figures, found = fuzz(stack, service)
        failures += found
        report.append(
            f"{service}: {figures['requests']} requests, {figures['server errors']} server errors, "
            f"{figures['schema violations']} schema violations; "
            + ", ".join(f"{k} {v}" for k, v in sorted(figures.items()) if k.startswith("status"))
        )
    log.info("\nschemathesis against the running stack:\n  " + "\n  ".join(report))
    assert not failures, "\n".join(failures[:40])
