"""Composition root: wires the publishing use case to MongoDB, Kafka, HTTP and WeasyPrint."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from hocba_contracts.topics import PUBLISHING_EVENTS
from hocba_runtime.service import ServiceRuntime, create_app
from hocba_runtime.uow import MongoUnitOfWork
from hocba_trust.cms import TrustList
from hocba_trust.crls import CrlRefresher

from hocba_publishing.adapters.mongo_publishing import (
    MongoPublishingReader,
    MongoPublishingUnitOfWork,
    ensure_indexes,
)
from hocba_publishing.adapters.pades import PadesSealer, SealingRenderer
from hocba_publishing.adapters.trust import TrustListVerifier
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer
from hocba_publishing.application.ports import PdfRenderer
from hocba_publishing.application.use_cases import PublishingService
from hocba_publishing.config import PublishingSettings
from hocba_publishing.entrypoints import http, kafka
from hocba_publishing.entrypoints.policies import POLICIES

DESCRIPTION = (
    "Verifies signed records, stores them immutably with a document id and content hash, "
    "renders the official PDF and announces the publication."
)


@dataclass
class Publishing:
    runtime: ServiceRuntime
    service: PublishingService
    app: FastAPI


def build(settings: PublishingSettings | None = None) -> Publishing:
    settings = settings or PublishingSettings()
    runtime = ServiceRuntime(settings, owned_topics=(PUBLISHING_EVENTS.name,))
    uow = MongoPublishingUnitOfWork(
        runtime.mongo, MongoUnitOfWork(runtime.mongo, runtime.outbox, "publishing")
    )
    reader = MongoPublishingReader(runtime.mongo)
    trust = (
        TrustList.from_pem_files(settings.trust_roots, settings.crl_files)
        if settings.trust_roots
        else None
    )
    renderer: PdfRenderer = WeasyPrintRenderer(settings.lookup_public_url)
    if settings.pdf_seal:
        assert (
            settings.pdf_seal_certificate and settings.pdf_seal_key
        )  # the settings refuse a seal without them
        renderer = SealingRenderer(
            renderer, PadesSealer(settings.pdf_seal_certificate, settings.pdf_seal_key)
        )
    service = PublishingService(
        uow,
        reader,
        TrustListVerifier(trust),
        renderer,
        id_key=settings.document_id_secret.get_secret_value().encode(),
    )
    runtime.on_start(lambda: ensure_indexes(runtime.mongo))
    if trust is not None:
        crls = CrlRefresher(
            trust, settings.crl_files, settings.crl_urls, settings.crl_refresh_seconds
        )
        runtime.on_start(crls.start)
        runtime.on_stop(crls.stop)
    kafka.register(runtime.broker, settings, service)
    app = create_app(
        runtime,
        title="Hocba publishing",
        description=DESCRIPTION,
        routers=[http.router],
        policies=POLICIES,
    )
    app.state.publishing = service
    app.state.reader = reader
    return Publishing(runtime, service, app)
