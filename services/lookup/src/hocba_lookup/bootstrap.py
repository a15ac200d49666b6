"""Composition root: wires the lookup to MongoDB, Kafka, HTTP, the trust list and publishing."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from hocba_runtime.service import ServiceRuntime, create_app
from hocba_runtime.uow import MongoUnitOfWork
from hocba_runtime.web import Csrf
from hocba_trust.cms import TrustList
from hocba_trust.crls import CrlRefresher

from hocba_lookup.adapters.argon2_hasher import Argon2CodeHasher
from hocba_lookup.adapters.entry_cache import WatchedLookupReader
from hocba_lookup.adapters.log_inclusion import (
    BundleLogChecker,
    CachingLogChecker,
    load_log_key,
)
from hocba_lookup.adapters.mongo_access import MongoAccessStore, ensure_access_indexes
from hocba_lookup.adapters.mongo_lookup import (
    PROJECTION,
    MongoLookupReader,
    MongoLookupUnitOfWork,
    ensure_indexes,
)
from hocba_lookup.adapters.pdf_record import VerifierPdfReader
from hocba_lookup.adapters.publishing_log import HttpPublishingLog
from hocba_lookup.adapters.publishing_pdfs import ClientCredentials, HttpPublishingPdfs
from hocba_lookup.adapters.trust import TrustListRecordVerifier
from hocba_lookup.adapters.verification_cache import CachingRecordVerifier
from hocba_lookup.application.access import AccessService
from hocba_lookup.application.ports import LookupReader
from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.application.verification import VerificationService
from hocba_lookup.config import LookupSettings
from hocba_lookup.domain.access import CLIENT_LIMIT, STUDENT_LIMIT, RateLimit
from hocba_lookup.domain.model import derived_key
from hocba_lookup.entrypoints import http, kafka, log, pages, schools, verify
from hocba_lookup.entrypoints.policies import POLICIES

DESCRIPTION = (
    "Parents sign in with the personal ID number, the date of birth and the access code the school "
    "issued, and see and download their child's published records; anybody verifies a record by "
    "its document id; every answer re-verifies the signatures."
)


@dataclass
class Lookup:
    runtime: ServiceRuntime
    service: LookupService
    app: FastAPI
    pdfs: HttpPublishingPdfs
    access: AccessService
    entries: WatchedLookupReader | None
    """The entries kept in memory (None: `entry_cache_size` 0)."""


def build(
    settings: LookupSettings | None = None,
    *,
    publishing_transport: httpx.AsyncBaseTransport | None = None,
) -> Lookup:
    """`publishing_transport`: how to reach publishing (tests pass its app's ASGI transport)."""
    settings = settings or LookupSettings()
    secret = settings.lookup_secret.get_secret_value()
    runtime = ServiceRuntime(settings)
    uow = MongoLookupUnitOfWork(
        runtime.mongo, MongoUnitOfWork(runtime.mongo, runtime.outbox, "lookup")
    )
    stored = MongoLookupReader(runtime.mongo)
    entries = (
        WatchedLookupReader(
            stored,
            runtime.mongo.db[PROJECTION.published],
            max_entries=settings.entry_cache_size,
        )
        if settings.entry_cache_size
        else None
    )
    reader: LookupReader = entries or stored
    trust = (
        TrustList.from_pem_files(settings.trust_roots, settings.crl_files)
        if settings.trust_roots
        else None
    )
    verifier = CachingRecordVerifier(TrustListRecordVerifier(trust), trust)
    service = LookupService(
        uow, reader, verifier, secret, changed=entries.forget if entries else None
    )
    access = AccessService(
        MongoAccessStore(runtime.mongo),
        reader,
        Argon2CodeHasher(),
        secret,
        client_limit=RateLimit(settings.sign_in_attempts_per_client, CLIENT_LIMIT.window_seconds),
        student_limit=RateLimit(
            settings.sign_in_attempts_per_student, STUDENT_LIMIT.window_seconds
        ),
    )
    credentials = ClientCredentials(
        settings.oidc_issuer,
        settings.oidc_client_id,
        settings.oidc_client_secret,
        token_url=settings.oidc_token_url,
    )
    pdfs = HttpPublishingPdfs(settings.publishing_url, credentials, transport=publishing_transport)
    transparency = HttpPublishingLog(
        settings.publishing_url, credentials, transport=publishing_transport
    )
    verification = VerificationService(
        service,
        TrustListRecordVerifier(trust),
        CachingLogChecker(
            BundleLogChecker(
                transparency,
                load_log_key(settings.log_key, settings.log_origin) if settings.log_key else None,
            )
        ),
        VerifierPdfReader(trust),
    )
    runtime.on_start(lambda: ensure_indexes(runtime.mongo))
    runtime.on_start(lambda: ensure_access_indexes(runtime.mongo))
    if entries is not None:
        runtime.on_start(entries.start)
        runtime.on_stop(entries.stop)
    runtime.on_stop(transparency.close)
    runtime.on_stop(pdfs.close)
    if trust is not None:
        crls = CrlRefresher(
            trust, settings.crl_files, settings.crl_urls, settings.crl_refresh_seconds
        )
        runtime.on_start(crls.start)
        runtime.on_stop(crls.stop)
    kafka.register(runtime.broker, settings, service)
    app = create_app(
        runtime,
        title="Hocba lookup",
        description=DESCRIPTION,
        routers=[pages.router, http.router, schools.router, verify.router, log.router],
        policies=POLICIES,
    )
    app.state.lookup = service
    app.state.pdfs = pdfs
    app.state.log = transparency
    app.state.access = access
    app.state.verification = verification
    app.state.csrf = Csrf(
        derived_key(secret, "csrf"), secure=settings.base_url.startswith("https://")
    )
    return Lookup(runtime, service, app, pdfs, access, entries)
