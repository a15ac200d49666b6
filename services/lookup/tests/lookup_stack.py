"""The lookup with the real publishing service behind it, for the integration tests: publishing's
app runs in the test process (its HTTP API reached through its ASGI transport), both consume and
publish on the real broker, store in the real database and check tokens against the development
issuer, where the lookup is registered as an OIDC client with the service role."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
from hocba_contracts.payloads.signing import RecordSigned
from hocba_devstack.devpki import DevPKI
from hocba_devstack.testing import LocalInfra, eventually
from hocba_lookup.bootstrap import Lookup, build
from hocba_lookup.config import LookupSettings
from hocba_publishing.bootstrap import Publishing
from hocba_publishing.bootstrap import build as build_publishing
from hocba_publishing.config import PublishingSettings

LOOKUP_CLIENT = "hocba-lookup"
LOOKUP_SECRET = "integration-secret-0123456789"
PUBLISHING_URL = "http://publishing.test"
LOOKUP_URL = "http://lookup.test"
SCHOOL = "079-TH-L"


@dataclass
class Stack:
    publishing: Publishing
    lookup: Lookup
    http: httpx.AsyncClient
    """A client of the lookup, as a browser or an app reaches it (keeps cookies)."""
    issuer: Any = None
    """The development issuer (tokens for the school's staff)."""

    def staff(self, role: str = "school_admin", school: str = SCHOOL) -> dict[str, str]:
        token = self.issuer.token(roles=[role], school_id=school, staff_id=f"{school}-QT")
        return {"authorization": f"Bearer {token}"}

    async def issue_code(self, student_id: str, school: str = SCHOOL) -> str:
        """The school administrator issues the student's access code; the code."""
        r = await self.http.post(
            f"/api/students/{student_id}/access-code", headers=self.staff(school=school)
        )
        assert r.status_code == 200, r.text
        return str(r.json()["codes"][0]["access_code"])

    def browser(self) -> httpx.AsyncClient:
        """Another browser (its own cookies)."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.lookup.app), base_url=LOOKUP_URL
        )

    async def publish(self, record: RecordSigned) -> str:
        """Publish through publishing and wait until the lookup shows it; the document id."""
        doc = await self.publishing.service.publish(record)
        assert doc is not None

        async def shown() -> bool:
            return (await self.http.get(f"/api/documents/{doc.document_id}")).status_code == 200

        await eventually(shown, timeout=60)
        return doc.document_id


def lookup_settings(
    local_infra: LocalInfra, database: str, pki: DevPKI, **extra: Any
) -> LookupSettings:
    options: dict[str, Any] = {
        "mongo_database": database,
        "trust_roots": [str(pki.root_file)],
        "lookup_secret": LOOKUP_SECRET,
        "public_url": LOOKUP_URL,
        "publishing_url": PUBLISHING_URL,
        "oidc_client_id": LOOKUP_CLIENT,
        "oidc_client_secret": local_infra.issuer.register_client(LOOKUP_CLIENT, ["service"]),
    }
    return LookupSettings(**local_infra.settings(**(options | extra)))


@asynccontextmanager
async def running(
    local_infra: LocalInfra,
    databases: Callable[[str], str],
    pki: DevPKI,
    publishing_extra: dict[str, Any] | None = None,
    **extra: Any,
) -> AsyncIterator[Stack]:
    """`publishing_extra`: more of publishing's settings (e.g. its PDF seal)."""
    publishing = build_publishing(
        PublishingSettings(
            **local_infra.settings(mongo_database=databases("publishing")),
            **(
                {
                    "trust_roots": [str(pki.root_file)],
                    "document_id_secret": "integration-document-id-secret-0123",
                }
                | (publishing_extra or {})
            ),
        )
    )
    await publishing.runtime.start()
    extra = {"log_key": publishing.log.verifier_key} | extra
    lookup = build(
        lookup_settings(local_infra, databases("lookup"), pki, **extra),
        publishing_transport=httpx.ASGITransport(app=publishing.app),
    )
    await lookup.runtime.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=lookup.app), base_url=LOOKUP_URL
        ) as http:
            yield Stack(publishing, lookup, http, local_infra.issuer)
    finally:
        await lookup.runtime.stop()
        await publishing.runtime.stop()


async def form_token(http: httpx.AsyncClient) -> str:
    """Open the lookup form as a browser does: its CSRF cookie lands in the client, the token is returned."""
    page = await http.get("/")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the form has no CSRF field"
    return found.group(1)


async def sign_in(
    http: httpx.AsyncClient, citizen_id: str, code: str, born: date | None = None
) -> httpx.Response:
    """A parent signs in over the JSON API (the session cookie lands in the client)."""
    return await http.post(
        "/api/session",
        json={
            "citizen_id": citizen_id,
            "date_of_birth": (born or date(2014, 2, 28)).isoformat(),
            "access_code": code,
        },
    )


async def records(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every version the signed-in parent sees, newest year first (as the old lookup listed them)."""
    r = await http.get("/api/session/records")
    assert r.status_code == 200, r.text
    return [v for y in r.json()["years"] for v in y["versions"]]
