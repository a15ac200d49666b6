"""Composition root: wires the signing use cases to MongoDB, Kafka, HTTP and the keys."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from hocba_contracts.topics import SIGNING_EVENTS
from hocba_runtime.service import ServiceRuntime, create_app
from hocba_runtime.uow import MongoUnitOfWork
from hocba_trust.cms import TrustList
from hocba_trust.crls import CrlRefresher
from hocba_trust.dev_ca import DevCAClient
from hocba_trust.keys import KeyDirectory

from hocba_signing.adapters.mongo_signing import (
    MongoSigningReader,
    MongoSigningUnitOfWork,
    ensure_indexes,
)
from hocba_signing.adapters.trust import DevPKISigner, RoutingSigner, TrustListChecker
from hocba_signing.application.use_cases import SigningService
from hocba_signing.config import SigningSettings
from hocba_signing.entrypoints import http, kafka
from hocba_signing.entrypoints.policies import POLICIES

log = logging.getLogger("hocba.signing")

DESCRIPTION = (
    "Turns closed-year records into documents to sign, collects the homeroom teacher's and the "
    "principal's CMS signatures (server-side or from their own signing apps) and verifies each."
)


class ReminderLoop:
    """Looks for signing deadlines that are near, every `poll_seconds`, and emits reminders."""

    def __init__(self, service: SigningService, within: timedelta, poll_seconds: float) -> None:
        self.service, self.within, self.poll = service, within, poll_seconds
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            try:
                await self.service.send_reminders(datetime.now(UTC), self.within)
            except Exception:  # noqa: BLE001 - try again at the next poll
                log.exception("reminders failed; retrying at the next poll")
            await asyncio.sleep(self.poll)


@dataclass
class Signing:
    runtime: ServiceRuntime
    service: SigningService
    app: FastAPI


def build(settings: SigningSettings | None = None) -> Signing:
    settings = settings or SigningSettings()
    runtime = ServiceRuntime(settings, owned_topics=(SIGNING_EVENTS.name,))
    uow = MongoSigningUnitOfWork(
        runtime.mongo, MongoUnitOfWork(runtime.mongo, runtime.outbox, "signing")
    )
    trust = (
        TrustList.from_pem_files(settings.trust_roots, settings.crl_files)
        if settings.trust_roots
        else None
    )
    keys = KeyDirectory(Path(settings.pki_dir) / "signers")
    dev_ca = DevCAClient(settings.dev_ca_url) if settings.dev_ca_url else None
    people = (
        DevPKISigner(
            keys, dev_ca if settings.dev_issue_on_demand else None, settings.external_signers
        )
        if settings.server_side_signing
        else None
    )
    seal = None
    if settings.school_seal:
        from hocba_signing.adapters.pkcs11_token import Pkcs11Token, TokenSealSigner

        assert settings.pkcs11_pin is not None  # the settings refuse a seal without a PIN
        token = Pkcs11Token(
            settings.pkcs11_library,
            settings.pkcs11_token_label,
            settings.pkcs11_pin.get_secret_value(),
        )
        seal = TokenSealSigner(token, keys, dev_ca if settings.seal_issue_on_demand else None)
    signer = RoutingSigner(people, seal) if (people or seal) else None
    service = SigningService(
        uow,
        TrustListChecker(trust),
        signer,
        school_seal=settings.school_seal,
        deadline=timedelta(days=settings.signing_deadline_days),
    )
    runtime.on_start(lambda: ensure_indexes(runtime.mongo))
    if trust is not None:
        crls = CrlRefresher(
            trust, settings.crl_files, settings.crl_urls, settings.crl_refresh_seconds
        )
        runtime.on_start(crls.start)
        runtime.on_stop(crls.stop)
    reminders = ReminderLoop(
        service, timedelta(hours=settings.reminder_within_hours), settings.reminder_poll_seconds
    )
    runtime.on_start(reminders.start)
    runtime.on_stop(reminders.stop)
    kafka.register(runtime.broker, settings, service)
    app = create_app(
        runtime,
        title="Hocba signing",
        description=DESCRIPTION,
        routers=[http.router],
        policies=POLICIES,
    )
    app.state.signing = service
    app.state.reader = MongoSigningReader(runtime.mongo)
    return Signing(runtime, service, app)
