"""Composition root: wires the lookup to MongoDB, Kafka, HTTP and the trust list."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from hocba_runtime.cms import TrustList
from hocba_runtime.crls import CrlRefresher
from hocba_runtime.service import ServiceRuntime, create_app
from hocba_runtime.uow import MongoUnitOfWork

from hocba_lookup.adapters.mongo_lookup import (
    MongoLookupReader,
    MongoLookupUnitOfWork,
    ensure_indexes,
)
from hocba_lookup.adapters.trust import TrustListRecordVerifier
from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.config import LookupSettings
from hocba_lookup.entrypoints import http, kafka

DESCRIPTION = ("Parents and schools look up published records by personal ID number and date of birth, "
               "or by document id; every answer re-verifies the signatures.")


@dataclass
class Lookup:
    runtime: ServiceRuntime
    service: LookupService
    app: FastAPI


def build(settings: LookupSettings | None = None) -> Lookup:
    settings = settings or LookupSettings()
    runtime = ServiceRuntime(settings)
    uow = MongoLookupUnitOfWork(runtime.mongo, MongoUnitOfWork(runtime.mongo, runtime.outbox, "lookup"))
    reader = MongoLookupReader(runtime.mongo)
    trust = TrustList.from_pem_files(settings.trust_roots, settings.crl_files) if settings.trust_roots else None
    service = LookupService(uow, reader, TrustListRecordVerifier(trust), settings.lookup_secret)
    runtime.on_start(lambda: ensure_indexes(runtime.mongo))
    if trust is not None:
        crls = CrlRefresher(trust, settings.crl_files, settings.crl_urls, settings.crl_refresh_seconds)
        runtime.on_start(crls.start)
        runtime.on_stop(crls.stop)
    kafka.register(runtime.broker, settings, service)
    app = create_app(runtime, title="Hocba lookup", description=DESCRIPTION, routers=[http.router])
    app.state.lookup = service
    return Lookup(runtime, service, app)
