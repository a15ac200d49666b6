"""Publishing's transparency log, read over its HTTP API with the lookup's service token, for the
lookup to serve to anybody: the log holds no personal data (hocba_trust.logentry)."""

from __future__ import annotations

import logging

import httpx

from hocba_lookup.adapters.publishing_pdfs import ClientCredentials
from hocba_lookup.application.ports import LogAnswer
from hocba_lookup.domain.model import LogUnavailable, PdfUnavailable

log = logging.getLogger("hocba.lookup.log")

UNAVAILABLE = "the transparency log cannot be read from publishing now; try again shortly"


class HttpPublishingLog:
    """LogSource over publishing's `GET /log/...` endpoints."""

    def __init__(
        self,
        publishing_url: str,
        credentials: ClientCredentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.credentials = credentials
        self.http = httpx.AsyncClient(
            base_url=publishing_url.rstrip("/"), timeout=10, transport=transport
        )

    async def get(self, path: str, params: dict[str, int] | None = None) -> LogAnswer:
        if not path.startswith("/log/"):
            raise ValueError(f"not a path of the log API: {path}")
        for attempt in (1, 2):
            try:
                token = await self.credentials.token()
            except PdfUnavailable:
                raise LogUnavailable(UNAVAILABLE) from None
            try:
                response = await self.http.get(
                    path, params=params, headers={"authorization": f"Bearer {token}"}
                )
            except httpx.HTTPError as exc:
                log.error("publishing unreachable", extra={"error_type": type(exc).__name__})
                raise LogUnavailable(UNAVAILABLE) from None
            if response.status_code == 401 and attempt == 1:
                self.credentials.forget(token)
                continue
            if response.status_code in (401, 403) or response.status_code >= 500:
                log.error("publishing refused the log", extra={"status": response.status_code})
                raise LogUnavailable(UNAVAILABLE)
            return LogAnswer(
                response.status_code,
                response.headers.get("content-type", "application/json"),
                response.content,
            )
        raise LogUnavailable(UNAVAILABLE)

    async def close(self) -> None:
        await self.http.aclose()
