"""Composition root: wires the publishing use case to MongoDB, Kafka, HTTP and WeasyPrint."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from fastapi import FastAPI
from hocba_contracts.topics import PUBLISHING_EVENTS
from hocba_runtime.service import ServiceRuntime, create_app
from hocba_runtime.uow import MongoUnitOfWork
from hocba_trust.cms import TrustList
from hocba_trust.crls import CrlRefresher
from hocba_trust.note import Signer

from hocba_publishing.adapters.mongo_log import MongoLog, sequencer
from hocba_publishing.adapters.mongo_publishing import (
    MongoPdfStore,
    MongoPublishingReader,
    MongoPublishingUnitOfWork,
    ensure_indexes,
)
from hocba_publishing.adapters.render_pool import PooledRenderer, SealSettings, make_renderer
from hocba_publishing.adapters.trust import TrustListVerifier
from hocba_publishing.adapters.weasyprint_renderer import WeasyPrintRenderer
from hocba_publishing.application.books import RecordBooks
from hocba_publishing.application.use_cases import PdfRendering, PublishingService
from hocba_publishing.config import PublishingSettings
from hocba_publishing.entrypoints import http, kafka
from hocba_publishing.entrypoints.policies import POLICIES

DESCRIPTION = (
    "Verifies signed records, stores them immutably with a document id and content hash, "
    "renders the official PDF and announces the publication."
)


log = logging.getLogger("hocba.publishing")


@dataclass
class Publishing:
    runtime: ServiceRuntime
    service: PublishingService
    app: FastAPI
    log: MongoLog
    rendering: PdfRendering


def log_signer(settings: PublishingSettings) -> Signer:
    """The log's checkpoint key: the configured one (production refuses to start without it), or
    in development a key made now, whose checkpoints no verifier will know after a restart."""
    if settings.log_signing_key is not None:
        signer = Signer.from_key(settings.log_signing_key.get_secret_value())
        if signer.name != settings.log_origin:
            raise ValueError(
                f"HOCBA_PUBLISHING_LOG_SIGNING_KEY is a key of {signer.name!r}, not of the log "
                f"{settings.log_origin!r} (HOCBA_PUBLISHING_LOG_ORIGIN): make a key with that name"
            )
        return signer
    log.warning(
        "no HOCBA_PUBLISHING_LOG_SIGNING_KEY: checkpoints are signed with a key made at start"
    )
    return Signer.generate(settings.log_origin)


def seal_settings(settings: PublishingSettings) -> SealSettings | None:
    """What the render processes seal with; None when PDFs are not sealed."""
    if not settings.pdf_seal:
        return None
    assert settings.pkcs11_pin is not None  # the settings refuse a seal without its PIN
    return SealSettings(
        pkcs11_library=settings.pkcs11_library,
        token_label=settings.pkcs11_token_label,
        pin=settings.pkcs11_pin,
        certificates_dir=settings.pdf_seal_certificates,
        trust_roots=tuple(settings.trust_roots),
        crl_files=tuple(settings.crl_files),
        tsa_url=settings.tsa_url,
        dev_ca_url=settings.dev_ca_url if settings.pdf_seal_issue_on_demand else None,
    )


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
    renderer = PooledRenderer(
        functools.partial(make_renderer, settings.lookup_public_url, seal_settings(settings)),
        settings.pdf_render_processes,
    )
    service = PublishingService(
        uow,
        reader,
        TrustListVerifier(trust),
        id_key=settings.document_id_secret.get_secret_value().encode(),
    )
    rendering = PdfRendering(reader, MongoPdfStore(runtime.mongo), renderer)
    runtime.on_stop(renderer.close)
    transparency = MongoLog(
        runtime.mongo,
        log_signer(settings),
        settings.log_origin,
        checkpoint_seconds=settings.log_checkpoint_seconds,
    )
    sequencing = sequencer(runtime.mongo, transparency, settings.log_poll_seconds)

    async def start_sequencer() -> None:
        sequencing.start()

    runtime.on_start(lambda: ensure_indexes(runtime.mongo))
    runtime.on_start(start_sequencer)
    runtime.on_stop(sequencing.stop)
    if trust is not None:
        crls = CrlRefresher(
            trust, settings.crl_files, settings.crl_urls, settings.crl_refresh_seconds
        )
        runtime.on_start(crls.start)
        runtime.on_stop(crls.stop)
    kafka.register(runtime.broker, settings, service, rendering)
    app = create_app(
        runtime,
        title="Hocba publishing",
        description=DESCRIPTION,
        routers=[http.router],
        policies=POLICIES,
    )
    app.state.publishing = service
    app.state.reader = reader
    app.state.log = transparency
    app.state.rendering = rendering
    app.state.books = RecordBooks(reader, WeasyPrintRenderer(settings.lookup_public_url))
    return Publishing(runtime, service, app, transparency, rendering)
