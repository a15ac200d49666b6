"""Keeping a trust list's CRLs current: from files (re-read) and from URLs (fetched), on a schedule.

A CRL that cannot be fetched keeps the last good copy (and says so in the log, without the URL's
query string); a CRL whose signature does not verify against a trusted CA is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from cryptography import x509

from hocba_trust.cms import TrustList

log = logging.getLogger("hocba.crls")


def _load(data: bytes) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)


class CrlRefresher:
    def __init__(
        self, trust: TrustList, files: Sequence[str], urls: Sequence[str], every_seconds: float
    ) -> None:
        self.trust, self.files, self.urls, self.every = (
            trust,
            list(files),
            list(urls),
            every_seconds,
        )
        self._by_source: dict[str, x509.CertificateRevocationList] = {}
        self.task: asyncio.Task[None] | None = None

    def _issuer_ok(self, crl: x509.CertificateRevocationList) -> bool:
        """Refuse at once a CRL of a CA we hold that it was not signed by; CRLs of CAs that only
        arrive in signatures' chains are checked against that CA when used (TrustList)."""
        for ca in [*self.trust.roots, *self.trust.intermediates, *self.trust.known_cas.values()]:
            if ca.subject == crl.issuer:
                try:
                    return bool(crl.is_signature_valid(ca.public_key()))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    return False
        return True

    async def refresh(self) -> int:
        """Fetch/re-read every source once; returns how many CRLs are in force."""
        async with httpx.AsyncClient(timeout=10, follow_redirects=True) as http:
            for url in self.urls:
                try:
                    response = await http.get(url)
                    response.raise_for_status()
                    crl = _load(response.content)
                except Exception as exc:  # noqa: BLE001 - keep the last good copy
                    log.warning(
                        "CRL not refreshed; keeping the last copy",
                        extra={"crl_host": urlsplit(url).netloc, "error_type": type(exc).__name__},
                    )
                    continue
                if self._issuer_ok(crl):
                    self._by_source[url] = crl
                else:
                    log.error(
                        "CRL refused: its signature does not verify",
                        extra={"crl_host": urlsplit(url).netloc},
                    )
        for path in self.files:
            try:
                crl = _load(await asyncio.to_thread(Path(path).read_bytes))
            except (OSError, ValueError) as exc:
                log.warning(
                    "CRL file not readable; keeping the last copy",
                    extra={"error_type": type(exc).__name__},
                )
                continue
            if self._issuer_ok(crl):
                self._by_source[path] = crl
        self.trust.crls = list(self._by_source.values())
        self.trust._crl_checks.clear()
        return len(self.trust.crls)

    async def start(self) -> None:
        await self.refresh()
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - try again next time
                log.exception("CRL refresh failed")
