"""One service process: FastAPI for HTTP, FastStream for Kafka, the outbox relay, MongoDB.

`ServiceRuntime` owns the connections; `create_app` builds the HTTP app whose lifespan starts
and stops them, with liveness, readiness (database and broker) and trace propagation.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from hocba_contracts import topic as topic_spec
from hocba_contracts.catalog import topic_envelope
from opentelemetry import context as otel_context
from opentelemetry import trace
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from hocba_runtime.errors import DomainError
from hocba_runtime.kafka import RelayProducer, check_kafka, make_broker
from hocba_runtime.logs import configure_logging
from hocba_runtime.mongo import Mongo
from hocba_runtime.outbox import Outbox, OutboxRelay
from hocba_runtime.settings import ServiceSettings
from hocba_runtime.tracing import configure_tracing, context_from, tracer

log = logging.getLogger("hocba.service")


class ServiceRuntime:
    """The connections of one service process, created once by the composition root."""

    def __init__(self, settings: ServiceSettings, *, owned_topics: tuple[str, ...] = ()) -> None:
        self.settings = settings
        self.mongo = Mongo(settings.mongo_uri, settings.mongo_database)
        self.outbox = Outbox(self.mongo)
        self.broker: KafkaBroker = make_broker(settings)
        for name in owned_topics:
            spec = topic_spec(name)
            # Declared publishers document what this service emits in its AsyncAPI file.
            self.broker.publisher(
                name, schema=topic_envelope(name), title=name, description=spec.description
            )
        self.producer = RelayProducer(settings.kafka_bootstrap, f"hocba-{settings.service_name}-relay")
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
        for fn in self._on_start:
            await fn()
        await self.broker.start()
        await self.producer.start()
        self.relay.start()
        self.started = True
        log.info("service started", extra={"http_port": self.settings.http_port})

    async def stop(self) -> None:
        self.started = False
        for fn in self._on_stop:
            await fn()
        await self.relay.stop()
        await self.producer.stop()
        await self.broker.stop()
        self.mongo.close()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self.mongo.ping(), 3)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        try:
            await check_kafka(self.settings.kafka_bootstrap)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"unavailable: {type(exc).__name__}"
        checks["consumers"] = "ok" if self.started else "starting"
        return checks


class TraceMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        token = otel_context.attach(context_from(dict(request.headers)))
        try:
            route = request.url.path
            with tracer().start_as_current_span(
                f"{request.method} {route}", kind=trace.SpanKind.SERVER,
                attributes={"http.request.method": request.method},
            ) as span:
                response = await call_next(request)
                span.set_attribute("http.response.status_code", response.status_code)
                ctx = span.get_span_context()
                response.headers["traceparent"] = f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01"
                return response
        finally:
            otel_context.detach(token)


def _validation_details(exc: RequestValidationError) -> list[dict[str, str]]:
    details = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        details.append({"field": ".".join(loc), "problem": str(err.get("msg"))})
    return details


def create_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: list[Any],
) -> FastAPI:
    settings = runtime.settings
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.add_middleware(TraceMiddleware)

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status,
            content={"error": {"code": exc.code, "message": exc.message, "details": exc.details}},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={"error": {"code": "invalid_request", "message": "The request has invalid fields; see details.",
                               "details": _validation_details(exc)}},
        )

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/health/ready", tags=["health"])
    async def ready() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(status_code=200 if ok else 503, content={"status": "ok" if ok else "unavailable", "checks": checks})

    for router in routers:
        app.include_router(router)
    return app


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    import uvicorn

    # The objects made at start-up (modules, validation schemas) live as long as the process: frozen,
    # the collector no longer walks them on every full collection; and a bulk operation's thousands
    # of short-lived objects trigger young collections a little less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False)
