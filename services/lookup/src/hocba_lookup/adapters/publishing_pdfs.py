"""The published PDFs, fetched from publishing's API with the lookup's own service token.

The token is an OAuth 2.0 client-credentials grant from the OIDC issuer (its token endpoint from
the issuer's discovery document), kept until shortly before it expires. A token publishing refuses
(the issuer rotated its keys, say) is dropped and fetched again once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from hocba_lookup.domain.model import PdfUnavailable

log = logging.getLogger("hocba.lookup.pdfs")

UNAVAILABLE = "the PDF cannot be fetched from publishing now; try again shortly"


class ClientCredentials:
    """The lookup's access token, from the issuer's token endpoint, cached until `margin_seconds`
    before it expires."""

    def __init__(
        self,
        issuer: str | None,
        client_id: str,
        client_secret: SecretStr | None,
        *,
        token_url: str | None = None,
        margin_seconds: float = 30,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/") if issuer else None
        self.client_id = client_id
        self.client_secret = client_secret
        self.margin_seconds = margin_seconds
        self.clock = clock
        self.http = httpx.AsyncClient(timeout=5, transport=transport)
        self._token_endpoint: str | None = token_url
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def _endpoint(self) -> str:
        if self._token_endpoint is None:
            response = await self.http.get(f"{self.issuer}/.well-known/openid-configuration")
            response.raise_for_status()
            discovery = response.json()
            if str(discovery.get("issuer", "")).rstrip("/") != self.issuer:
                raise PdfUnavailable(
                    "the issuer's discovery document names another issuer; check OIDC_ISSUER"
                )
            self._token_endpoint = str(discovery["token_endpoint"])
        return self._token_endpoint

    async def token(self) -> str:
        async with self._lock:
            if self._token is not None and self.clock() < self._expires_at - self.margin_seconds:
                return self._token
            if self.issuer is None or self.client_secret is None:
                log.error(
                    "no service credentials configured: set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"
                )
                raise PdfUnavailable(UNAVAILABLE)
            try:
                endpoint = await self._endpoint()
                response = await self.http.post(
                    endpoint,
                    data={"grant_type": "client_credentials"},
                    auth=(self.client_id, self.client_secret.get_secret_value()),
                )
                response.raise_for_status()
                body = response.json()
                token, lifetime = str(body["access_token"]), float(body.get("expires_in", 60))
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                log.error(
                    "no service token from the issuer",
                    extra={"error_type": type(exc).__name__, "client_id": self.client_id},
                )
                raise PdfUnavailable(UNAVAILABLE) from None
            self._token, self._expires_at = token, self.clock() + lifetime
            return token

    def forget(self, token: str) -> None:
        """Drop `token` (publishing refused it): the next call asks the issuer for a new one."""
        if self._token == token:
            self._token = None

    async def close(self) -> None:
        await self.http.aclose()


class HttpPublishingPdfs:
    """PdfSource over publishing's HTTP API (`GET /documents/{id}/pdf`, and a student's whole
    record book of a level, `GET /students/{id}/book?level=`, whose `Hocba-Book-Years` header
    names the school years printed)."""

    def __init__(
        self,
        publishing_url: str,
        credentials: ClientCredentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.http = httpx.AsyncClient(
            base_url=publishing_url.rstrip("/"), timeout=20, transport=transport
        )

    async def pdf(self, document_id: str) -> bytes | None:
        response = await self._get(f"/documents/{quote(document_id, safe='')}/pdf")
        return None if response is None else response.content

    async def book(self, student_id: str, level: str) -> tuple[bytes, list[str]] | None:
        response = await self._get(f"/students/{quote(student_id, safe='')}/book", {"level": level})
        if response is None:
            return None
        years = response.headers.get("hocba-book-years", "")
        return response.content, [y.strip() for y in years.split(",") if y.strip()]

    async def _get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response | None:
        """A PDF answer of publishing's, None for its 404."""
        for attempt in (1, 2):
            token = await self.credentials.token()
            try:
                response = await self.http.get(
                    path, params=params, headers={"authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError as exc:
                log.error("publishing unreachable", extra={"error_type": type(exc).__name__})
                raise PdfUnavailable(UNAVAILABLE) from None
            if response.status_code == 401 and attempt == 1:
                self.credentials.forget(token)
                continue
            if response.status_code == 404:
                return None
            if response.status_code == 200 and response.headers.get("content-type", "").startswith(
                "application/pdf"
            ):
                return response
            log.error("publishing refused the PDF", extra={"status": response.status_code})
            raise PdfUnavailable(UNAVAILABLE)
        raise PdfUnavailable(UNAVAILABLE)

    async def close(self) -> None:
        await self.http.aclose()
        await self.credentials.close()
