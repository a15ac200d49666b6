"""One service process: FastAPI for HTTP, FastStream for Kafka, the outbox relay, MongoDB.

`ServiceRuntime` owns the connections; `create_app` builds the HTTP app whose lifespan starts
and stops them, with liveness, readiness (database and broker), trace propagation, access control
by the service's policy table, the audit trail, security headers and a body size limit.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from hocba_contracts import topic as topic_spec
from hocba_contracts.catalog import topic_envelope
from opentelemetry import context as otel_context
from opentelemetry import trace
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hocba_runtime.audit import AuditTrail, cursor_of
from hocba_runtime.auth import AccessControl, PolicyTable, SchoolSystems, TokenVerifier, route_of
from hocba_runtime.errors import DomainError
from hocba_runtime.inbox import ensure_inbox_indexes
from hocba_runtime.kafka import RelayProducer, check_kafka, make_broker
from hocba_runtime.logs import configure_logging
from hocba_runtime.mongo import Mongo
from hocba_runtime.outbox import Outbox, OutboxRelay
from hocba_runtime.privacy import redact
from hocba_runtime.settings import ServiceSettings
from hocba_runtime.tracing import configure_tracing, context_from, tracer
from hocba_runtime.web import SecurityHeaders

log = logging.getLogger("hocba.service")


class ServiceRuntime:
    """The connections of one service process, created once by the composition root."""

    def __init__(self, settings: ServiceSettings, *, owned_topics: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.mongo = Mongo(settings.mongo_uri, settings.mongo_database)
        self.outbox = Outbox(self.mongo)
        self.audit = AuditTrail(
            self.mongo, settings.service_name, flush_seconds=settings.audit_chain_seconds
        )
        self.school_systems = SchoolSystems(settings.school_systems)
        self.verifier = TokenVerifier(settings, self.school_systems)
        self.broker: KafkaBroker = make_broker(settings, audit=self.audit.kafka)
        for name in owned_topics:
            spec = topic_spec(name)
            # Declared publishers document what this service emits in its AsyncAPI file.
            self.broker.publisher(
                name, schema=topic_envelope(name), title=name, description=spec.description
            )
        self.producer = RelayProducer(
            settings.kafka_bootstrap,
            f"hocba-{settings.service_name}-relay",
            settings.kafka_client_options(),
        )
        self.relay = OutboxRelay(
            self.outbox,
            self.producer,
            poll_seconds=settings.relay_poll_seconds,
            batch_size=settings.relay_batch_size,
        )
        self.started = False
        self._on_start: list[Callable[[], Awaitable[None]]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []

    def on_start(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._on_start.append(fn)

    def on_stop(self, fn: Callable[[], Awaitable[None]]) -> None:
        self._on_stop.append(fn)

    def asyncapi(self, title: str, description: str) -> AsyncAPI:
        return AsyncAPI(self.broker, title=title, version="1.0.0", description=description)

    async def start(self) -> None:
        await self.outbox.ensure_indexes()
        await ensure_inbox_indexes(self.mongo, timedelta(days=self.settings.inbox_retention_days))
        await self.audit.ensure_indexes()
        for fn in self._on_start:
            await fn()
        await self.broker.start()
        await self.producer.start()
        self.relay.start()
        self.audit.start()
        self.started = True
        log.info("service started", extra={"http_port": self.settings.http_port})

    async def stop(self) -> None:
        self.started = False
        for fn in self._on_stop:
            await fn()
        await self.relay.stop()
        await self.producer.stop()
        await self.broker.stop()
        await self.audit.stop()
        self.mongo.close()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.mongo.ping(), 3)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            await check_kafka(self.settings.kafka_bootstrap, **self.settings.kafka_client_options())
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unavailable: {type(exc).__name__}"
        checks["consumers"] = "ok" if self.started else "starting"
        return checks


class TraceMiddleware:
    """ASGI middleware: a server span per request, named by the route's template
    (`GET /students/{student_id}`), so that no value of a URL reaches the traces; exceptions are
    recorded by type only. The answer carries the span's `traceparent`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        token = otel_context.attach(context_from(headers))
        try:
            found = route_of(scope)
            route = found[0].path if found else "unmatched"
            method = scope["method"]
            with tracer().start_as_current_span(
                f"{method} {route}",
                kind=trace.SpanKind.SERVER,
                record_exception=False,
                attributes={"http.request.method": method, "http.route": route},
            ) as span:

                async def traced(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        span.set_attribute("http.response.status_code", message["status"])
                        ctx = span.get_span_context()
                        parent = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
                        message["headers"] = [
                            *message.get("headers", ()),
                            (b"traceparent", parent.encode()),
                        ]
                    await send(message)

                await self.app(scope, receive, traced)
        finally:
            otel_context.detach(token)


def _validation_details(exc: RequestValidationError) -> list[dict[str, str]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        details.append({"field": ".".join(loc), "problem": str(err.get("msg"))})
    return details


class ErrorDetail(BaseModel):
    code: str = Field(
        description="Machine-readable, e.g. unauthenticated, forbidden, invalid_request"
    )
    message: str = Field(description="What went wrong and what to do, for a person")
    message_vi: str | None = Field(
        default=None, description="The same in Vietnamese, where a parent or a verifier reads it"
    )
    details: list[dict[str, Any]] = Field(
        description="Per field or item: what is wrong (field, problem, ...)"
    )


class ErrorOut(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorOut,
        "description": "No valid access token: sign in and send 'Authorization: Bearer <token>'",
    },
    403: {"model": ErrorOut, "description": "Your role or school may not do this"},
    404: {"model": ErrorOut, "description": "Nothing found under this id"},
    409: {"model": ErrorOut, "description": "Conflicts with what is stored"},
    413: {"description": "The request body is too large"},
    422: {"model": ErrorOut, "description": "Invalid input; the details say what to fix"},
    503: {"model": ErrorOut, "description": "A service this one needs is unavailable; try again"},
}
"""The error answers every endpoint may give, documented in each service's OpenAPI."""


class AuditExport(BaseModel):
    entries: list[dict[str, Any]] = Field(
        description="Entries, oldest first, each with its chain, seq, prev_hash and "
        "hash (python -m hocba_runtime.audit verify checks the chains)"
    )
    next_after: str | None = Field(description="Pass as `after` for the next page; null at the end")


def _error_body(
    code: str,
    message: str,
    details: list[dict[str, str]] | None = None,
    message_vi: str | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": redact(message)}
    if message_vi is not None:
        error["message_vi"] = redact(message_vi)
    error["details"] = details or []
    return {"error": error}


def create_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: list[Any],
    policies: PolicyTable,
) -> FastAPI:
    """The service's HTTP app. It refuses to be built while a route has no rule in `policies`."""
    settings = runtime.settings
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    docs = settings.serve_docs
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        max_body_size=settings.max_body_bytes,
        # One span a request, TraceMiddleware's: FastAPI's own telemetry (on by default) would add a
        # second one, with the raw path (ids and all) as `url.path`, plus metrics and log records.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.runtime = runtime
    # Outermost last: security headers on every response, then the trace, then access control before
    # anything reads the body (FastAPI refuses a body over max_body_size with 413 as it reads it).
    app.add_middleware(
        AccessControl, policies=policies, verifier=runtime.verifier, audit=runtime.audit.http
    )
    app.add_middleware(TraceMiddleware)
    app.add_middleware(SecurityHeaders, hsts=settings.base_url.startswith("https://"))

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status,
            content=_error_body(exc.code, exc.message, exc.details, exc.message_vi),
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content=_error_body(
                "invalid_request",
                "The request has invalid fields; see details.",
                _validation_details(exc),
            ),
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(
            status_code=exc.status_code,
            content=_error_body(code, str(exc.detail)),
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.error("request failed", extra={"error_type": type(exc).__name__})
        return JSONResponse(
            status_code=500,
            content=_error_body(
                "internal_error",
                "Something went wrong on our side; nothing was changed by this request. Try again, "
                "and tell the city department's operators if it keeps failing.",
            ),
        )

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get(
        "/health/ready",
        tags=["health"],
        responses={503: {"description": "Not ready; the checks say why"}},
    )
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            status_code=200 if ok else 503,
            content={"status": "ok" if ok else "unavailable", "checks": checks},
        )

    @app.get(
        "/audit/trail",
        tags=["audit"],
        response_model=AuditExport,
        responses=ERROR_RESPONSES,
        summary="Auditors: this service's audit trail, a school's or a student's, with the hash chain",
    )
    async def audit_trail(
        school_id: Annotated[str | None, Query(max_length=64)] = None,
        student_id: Annotated[str | None, Query(max_length=64)] = None,
        after: Annotated[
            str | None, Query(max_length=300, pattern=r"^[0-9T:.+-]+\|[\w:.+-]+\|\d{1,18}$")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    ) -> AuditExport:
        try:
            entries = await runtime.audit.export(
                school_id=school_id, student_id=student_id, after=after, limit=limit
            )
        except ValueError as exc:
            raise DomainError(str(exc), code="invalid_cursor") from None
        return AuditExport(
            entries=entries, next_after=cursor_of(entries[-1]) if len(entries) == limit else None
        )

    for router in routers:
        app.include_router(router, responses=ERROR_RESPONSES)
    missing = policies.missing(app)
    if missing:
        raise RuntimeError(
            f"{policies.service}: endpoints without an access policy: {', '.join(missing)}; add each to "
            "the service's policy table"
        )
    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    import uvicorn

    # The objects made at start-up (modules, validation schemas) live as long as the process: frozen,
    # the collector no longer walks them on every full collection; and a bulk operation's thousands
    # of short-lived objects trigger young collections a little less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        server_header=False,
    )
