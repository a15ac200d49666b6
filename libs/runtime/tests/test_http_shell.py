"""What every service's HTTP app does before and around its handlers: tokens, the policy table,
security headers, body limits, no CORS, no API pages in production."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from hocba_devstack.testing import LocalInfra
from hocba_runtime.auth import PUBLIC, Access, PolicyTable, Resource, allow, current_access
from hocba_runtime.auth import Scope as S
from hocba_runtime.service import ServiceRuntime, create_app
from hocba_runtime.settings import ServiceSettings
from pydantic import BaseModel, SecretStr, ValidationError

router = APIRouter()


class Note(BaseModel):
    text: str


@router.post("/schools/{school_id}/notes")
async def add_note(
    school_id: str, body: Note, access: Annotated[Access, Depends(current_access)]
) -> dict[str, str]:
    access.require(Resource(school_id=school_id))
    return {"stored": body.text}


@router.get("/page")
async def page() -> dict[str, str]:
    return {"hello": "world"}


POLICIES = PolicyTable(
    "shell-test",
    {"POST /schools/{school_id}/notes": allow(principal=S.SCHOOL), "GET /page": PUBLIC},
)


def _app(local_infra: LocalInfra, unique_db: Callable[[str], str], **extra: Any) -> FastAPI:
    settings = ServiceSettings(
        **local_infra.settings(
            service_name="shelltest",
            mongo_database=unique_db("shell"),
            max_body_bytes=4096,
            **extra,
        )
    )
    return create_app(
        ServiceRuntime(settings), title="t", description="t", routers=[router], policies=POLICIES
    )


@pytest.mark.integration
async def test_anonymous_and_bad_tokens_get_401_before_the_body_is_read_and_other_schools_get_403(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> None:
    app = _app(local_infra, unique_db)
    own = local_infra.headers("principal", "S1", "HT1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        anonymous = await http.post("/schools/S1/notes", content=b"{not json")
        assert (
            anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthenticated"
        )
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        garbage = await http.post(
            "/schools/S1/notes", json={"text": "x"}, headers={"authorization": "Bearer abc"}
        )
        assert garbage.status_code == 401
        wrong_role = await http.post(
            "/schools/S1/notes",
            json={"text": "x"},
            headers=local_infra.headers("teacher", "S1", "GV1"),
        )
        assert wrong_role.status_code == 403
        other = await http.post("/schools/S2/notes", json={"text": "x"}, headers=own)
        assert other.status_code == 403 and other.json()["error"]["message"].startswith(
            "this belongs to another school"
        )
        ok = await http.post("/schools/S1/notes", json={"text": "x"}, headers=own)
        assert ok.status_code == 200 and ok.json() == {"stored": "x"}
        public = await http.get("/page")
        assert public.status_code == 200


@pytest.mark.integration
async def test_every_response_carries_strict_security_headers_and_no_cors_grant(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> None:
    app = _app(local_infra, unique_db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        for response in (
            await http.get("/page", headers={"origin": "https://evil.example"}),
            await http.post("/schools/S1/notes", json={}),
            await http.options(
                "/page",
                headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
            ),
        ):
            h = response.headers
            assert "frame-ancestors 'none'" in h["content-security-policy"]
            assert "default-src 'none'" in h["content-security-policy"]
            assert (
                h["x-content-type-options"] == "nosniff" and h["referrer-policy"] == "no-referrer"
            )
            assert h["x-frame-options"] == "DENY" and h["cache-control"] == "no-store"
            assert "access-control-allow-origin" not in h and "server" not in h
            assert "strict-transport-security" not in h, (
                "HSTS only where the service is served over TLS"
            )


@pytest.mark.integration
async def test_hsts_when_served_over_tls_and_a_body_over_the_limit_gets_413(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> None:
    app = _app(local_infra, unique_db, public_url="https://records.hocba.example")
    own = local_infra.headers("principal", "S1", "HT1")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        assert "max-age=" in (await http.get("/page")).headers["strict-transport-security"]
        big = await http.post("/schools/S1/notes", json={"text": "x" * 10_000}, headers=own)
        assert big.status_code == 413


@pytest.mark.integration
async def test_api_pages_are_served_in_development_only(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> None:
    dev = _app(local_infra, unique_db)
    prod = _app(local_infra, unique_db, docs_enabled=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=dev), base_url="http://t"
    ) as http:
        assert (await http.get("/docs")).status_code == 200
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=prod), base_url="http://t"
    ) as http:
        assert (await http.get("/docs")).status_code == 404 and (
            await http.get("/openapi.json")
        ).status_code == 404


@pytest.mark.unit
def test_production_settings_refuse_no_issuer_plaintext_kafka_and_placeholder_secrets_and_never_print_secrets() -> (
    None
):
    class WithSecret(ServiceSettings):
        seal_pin: SecretStr = SecretStr("change-me")

    with pytest.raises(ValidationError) as refused:
        WithSecret(environment="production")
    text = str(refused.value)
    assert "change-me" not in text, "a refusal never quotes the values it was given"
    assert "OIDC_ISSUER" in text and "KAFKA_SECURITY_PROTOCOL" in text and "SEAL_PIN" in text
    good = WithSecret(
        environment="production",
        oidc_issuer="https://sso.example/realms/hocba",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="records",
        kafka_sasl_password=SecretStr("k" * 32),
        seal_pin=SecretStr("a-long-and-random-pin-value"),
    )
    assert "a-long-and-random-pin-value" not in repr(good) and "k" * 32 not in repr(good)
    assert not good.serve_docs and good.production
    assert ServiceSettings(environment="development").serve_docs


@pytest.mark.unit
def test_an_app_with_an_endpoint_outside_the_policy_table_is_not_built() -> None:
    settings = ServiceSettings(environment="development", service_name="shelltest")
    with pytest.raises(RuntimeError, match="POST /schools/{school_id}/notes"):
        create_app(
            ServiceRuntime(settings),
            title="t",
            description="t",
            routers=[router],
            policies=PolicyTable("shell-test", {"GET /page": PUBLIC}),
        )


@pytest.mark.integration
async def test_one_span_a_request_named_by_its_route_continuing_the_caller_s_trace(
    local_infra: LocalInfra, unique_db: Callable[[str], str]
) -> None:
    """The shell's own span is the only one: FastAPI's native telemetry (on by default since
    0.16x) would add a second span a request, with the raw path (ids and all) as `url.path`."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    app = _app(local_infra, unique_db)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "the service configured its tracer provider"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    caller = "ab" * 16
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as http:
        page = await http.get("/page", headers={"traceparent": f"00-{caller}-{'cd' * 8}-01"})
        note = await http.post(
            "/schools/S-079218000001/notes",
            json={"text": "x"},
            headers=local_infra.headers("principal", "S-079218000001", "HT1"),
        )
        missing = await http.get("/nothing/079218000002")
    assert (page.status_code, note.status_code, missing.status_code) == (200, 200, 404)
    assert page.headers["traceparent"].split("-")[1] == caller, "the caller's trace goes on"
    spans = exporter.get_finished_spans()
    assert {
        (
            s.instrumentation_scope and s.instrumentation_scope.name,
            s.name,
            (s.attributes or {}).get("http.response.status_code"),
        )
        for s in spans
    } == {
        ("hocba", "GET /page", 200),
        ("hocba", "POST /schools/{school_id}/notes", 200),
        ("hocba", "GET unmatched", 404),
    }
    assert len(spans) == 3, [s.name for s in spans]
    traced = next(s for s in spans if s.context.trace_id == int(caller, 16))
    assert page.headers["traceparent"].split("-")[2] == f"{traced.context.span_id:016x}"
    assert "079218" not in repr([(s.name, dict(s.attributes or {})) for s in spans])
