"""The lookup's public side, with the real publishing service behind it: every endpoint public as
its policy table says (matrix generated from the route table), no personal data in any public
answer, the parents' PDF by short-lived ticket fetched from publishing with the lookup's own service
token, CSRF on the form, the CSP nonce on every page."""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts.payloads.signing import RecordSigned  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import (  # noqa: E402
    OTHER_SCHOOL_SYSTEM,
    TEST_SCHOOL_SYSTEM,
    Call,
    Identity,
    LocalInfra,
    authorization_matrix,
    eventually,
    failed_cells,
)
from hocba_lookup.adapters.publishing_pdfs import ClientCredentials  # noqa: E402
from hocba_lookup.bootstrap import build  # noqa: E402
from hocba_lookup.domain.model import PDF_TICKET_SECONDS, PdfTickets, PdfUnavailable, derived_key  # noqa: E402
from hocba_lookup.entrypoints.policies import POLICIES  # noqa: E402
from lookup_fixtures import BORN, NAME, new_citizen_id, personal_values, signed  # noqa: E402
from lookup_stack import LOOKUP_CLIENT, LOOKUP_URL, Stack, form_token, lookup_settings, running  # noqa: E402
from pydantic import SecretStr  # noqa: E402

log = logging.getLogger(__name__)

pytestmark = pytest.mark.integration


@dataclass
class Fixture:
    """A published record of the fixture's student, as the lookup shows it."""

    citizen_id: str
    document_id: str
    record: RecordSigned

    @property
    def lookup(self) -> dict[str, str]:
        return {"citizen_id": self.citizen_id, "date_of_birth": BORN.isoformat()}


def _databases(name: str) -> str:
    return f"t_{name}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-public-pki"))
    p.create()
    return p


@pytest.fixture(scope="module")
async def stack(local_infra: LocalInfra, pki: DevPKI) -> AsyncIterator[Stack]:
    async with running(local_infra, _databases, pki) as s:
        yield s


@pytest.fixture(scope="module")
async def record(stack: Stack, pki: DevPKI) -> Fixture:
    citizen_id = new_citizen_id()
    rec = signed(pki, citizen_id=citizen_id)
    return Fixture(citizen_id, await stack.publish(rec), rec)


def _without_nonce(text: str) -> str:
    return re.sub(r'nonce="[^"]+"', 'nonce=""', text)


class HoldsTheFormCookie:
    """The lookup's app as a browser that opened the form reaches it: every request carries the
    form's CSRF cookie (the matrix's calls carry no cookie of their own)."""

    def __init__(self, app: Any, cookie: str) -> None:
        self.app = app
        self.routes = app.routes
        self.cookie = cookie

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope = {
                **scope,
                "headers": [*scope["headers"], (b"cookie", f"hocba_csrf={self.cookie}".encode())],
            }
        await self.app(scope, receive, send)


async def test_every_endpoint_is_public_as_the_policy_table_says(
    stack: Stack, record: Fixture, local_infra: LocalInfra
) -> None:
    cookie = secrets.token_urlsafe(32)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.lookup.app), base_url=LOOKUP_URL
    ) as browser:
        page = await browser.get("/", headers={"cookie": f"hocba_csrf={cookie}"})
        field = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert field, "the form has no CSRF field"
        token = field.group(1)
    ticket = stack.lookup.app.state.tickets.issue(record.document_id)
    pdf = (
        await stack.http.get(f"/pdf/{stack.lookup.app.state.tickets.issue(record.document_id)}")
    ).content
    assert pdf.startswith(b"%PDF-")

    async def logged() -> bool:
        checkpoint = await stack.publishing.log.latest_checkpoint()
        return checkpoint is not None and checkpoint.size >= 1

    await eventually(logged)
    calls = {
        "GET /health/live": Call("/health/live"),
        "GET /health/ready": Call("/health/ready"),
        "GET /openapi.json": Call("/openapi.json"),
        "GET /docs": Call("/docs"),
        "GET /docs/oauth2-redirect": Call("/docs/oauth2-redirect"),
        "GET /audit/trail": Call("/audit/trail"),
        "GET /": Call("/"),
        "GET /lang/{lang}": Call("/lang/en", params={"next": "/"}),
        "POST /tra-cuu": Call("/tra-cuu", data={**record.lookup, "csrf_token": token}),
        "GET /verify": Call("/verify"),
        "GET /verify/{document_id}": Call(f"/verify/{record.document_id}"),
        "POST /verify/pdf": Call(
            "/verify/pdf",
            data={"csrf_token": token},
            files={"pdf": ("hocba.pdf", pdf, "application/pdf")},
        ),
        "POST /api/verify": Call(
            "/api/verify", files={"pdf": ("hocba.pdf", pdf, "application/pdf")}
        ),
        "GET /pdf/{ticket}": Call(f"/pdf/{ticket}"),
        "POST /api/lookup": Call("/api/lookup", json=record.lookup),
        "GET /api/documents/{document_id}": Call(f"/api/documents/{record.document_id}"),
        "GET /log/checkpoint": Call("/log/checkpoint"),
        "GET /log/key": Call("/log/key"),
        "GET /log/entries/{index}": Call("/log/entries/0"),
        "GET /log/proof/inclusion": Call("/log/proof/inclusion", params={"index": 0, "size": 1}),
        "GET /log/proof/consistency": Call("/log/proof/consistency", params={"old": 1, "new": 1}),
        "GET /log/documents/{document_id}": Call(f"/log/documents/{record.document_id}"),
    }
    school = record.record.document["school"]["school_id"]
    own = {
        "school_system": Identity("school_system", client_id=TEST_SCHOOL_SYSTEM),
        "teacher": Identity("teacher", school, "GV-L"),
        "principal": Identity("principal", school, "HT-L"),
        "school_admin": Identity("school_admin", school, f"{school}-QT"),
        "operator": Identity("operator"),
        "auditor": Identity("auditor"),
        "service": Identity("service", client_id=LOOKUP_CLIENT),
    }
    other = {
        "school_system": Identity("school_system", client_id=OTHER_SCHOOL_SYSTEM),
        "teacher": Identity("teacher", "OTHER-1", "GV-O"),
        "principal": Identity("principal", "OTHER-1", "HT-O"),
    }
    cells = await authorization_matrix(
        HoldsTheFormCookie(stack.lookup.app, cookie),
        POLICIES,
        calls,
        own,
        other,
        local_infra.issuer,
    )
    assert not failed_cells(cells), failed_cells(cells)
    mine = {
        c.endpoint: c.status
        for c in cells
        if c.caller == "anonymous"
        and not c.endpoint.startswith(("GET /health", "GET /docs", "GET /openapi", "GET /audit"))
    }
    redirects = {"GET /lang/{lang}": 303}
    assert mine == dict.fromkeys(mine, 200) | redirects and len(mine) == 16, mine
    rules = [POLICIES.rule(*e.split(" ", 1)) for e in mine]
    assert all(rule is not None and rule.public for rule in rules)
    log.info(f"lookup authorization matrix: {len(cells)} calls over {len(calls)} endpoints")


async def test_no_public_answer_carries_the_personal_id_the_date_of_birth_or_the_parents(
    stack: Stack, record: Fixture
) -> None:
    http = stack.http
    api_lookup = await http.post("/api/lookup", json=record.lookup)
    api_document = await http.get(f"/api/documents/{record.document_id}")
    verify = await http.get(f"/verify/{record.document_id}")
    token = await form_token(http)
    results = await http.post("/tra-cuu", data={**record.lookup, "csrf_token": token})
    vn_results = await http.post(
        "/tra-cuu",
        data={
            "citizen_id": record.citizen_id,
            "date_of_birth": BORN.strftime("%d/%m/%Y"),
            "csrf_token": token,
        },
    )
    bad_date = await http.post(
        "/tra-cuu",
        data={"citizen_id": record.citizen_id, "date_of_birth": "31/02/2014", "csrf_token": token},
    )
    bad_id = await http.post(
        "/tra-cuu",
        data={
            "citizen_id": record.citizen_id[:11],
            "date_of_birth": BORN.strftime("%d/%m/%Y"),
            "csrf_token": token,
        },
    )
    no_token = await http.post("/tra-cuu", data=record.lookup)
    api_bad_date = await http.post(
        "/api/lookup", json={"citizen_id": record.citizen_id, "date_of_birth": "28/02/2014"}
    )
    api_bad_id = await http.post(
        "/api/lookup",
        json={"citizen_id": record.citizen_id[:11], "date_of_birth": BORN.isoformat()},
    )
    answers = {
        "api lookup": (api_lookup, 200),
        "api document": (api_document, 200),
        "verify page": (verify, 200),
        "form": (await http.get("/"), 200),
        "results": (results, 200),
        "results (dd/mm/yyyy)": (vn_results, 200),
        "form, bad date": (bad_date, 422),
        "form, bad id": (bad_id, 422),
        "form, no token": (no_token, 403),
        "api, bad date": (api_bad_date, 422),
        "api, bad id": (api_bad_id, 422),
        "pdf, bad ticket": (await http.get("/pdf/nothing-here"), 404),
    }
    for what, (response, status) in answers.items():
        assert response.status_code == status, (what, response.status_code)
        seen = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        leaked = [v for v in personal_values(record.citizen_id) if v in seen]
        assert not leaked, (what, leaked)
    # What a verifier needs to match the paper to the person is there.
    document = api_document.json()
    assert (
        document["student_name"],
        document["school_name"],
        document["class_name"],
        document["school_year"],
        document["result"],
        document["status"],
    ) == (NAME, "Trường Tiểu học Hòa Bình", "5B", "2024-2025", "Hoàn thành tốt", "published")
    assert [s["signer_name"] for s in document["verification"]["signatures"]] == [
        "Mai Thị Yến",
        "Bùi Văn Lộc",
    ]
    assert (
        document["subjects"][0]["subject_name"] == "Toán"
        and document["subjects"][0]["score"] == 9.0
    )
    assert (
        "pdf_url" not in document
    )  # a verifier holding only the document id gets no PDF (it is personal)
    for needed in (
        NAME,
        "Trường Tiểu học Hòa Bình",
        "5B",
        "2024-2025",
        "Hoàn thành tốt",
        "Mai Thị Yến",
        "Bùi Văn Lộc",
        "Toán",
        "✔ Hợp lệ",
    ):
        assert needed in verify.text, needed
    assert "/pdf/" not in verify.text and "Ngày sinh" not in verify.text
    # Nor the student's id, which names the child in the education database.
    for response in (api_lookup, api_document, verify, results):
        assert record.record.student_id not in response.text
    for name in ("citizen_id", "date_of_birth"):  # the form never writes back what was typed
        assert re.search(rf'name="{name}"[^>]*value=', bad_date.text) is None
    assert "12 chữ số" in bad_id.text and "ngày/tháng/năm" in bad_date.text
    assert NAME in results.text and NAME in vn_results.text


async def test_a_parents_pdf_ticket_brings_publishings_pdf_fetched_with_the_lookups_service_token(
    stack: Stack, record: Fixture
) -> None:
    found = (await stack.http.post("/api/lookup", json=record.lookup)).json()["documents"]
    assert [d["document_id"] for d in found] == [record.document_id]
    url = found[0]["pdf_url"]
    assert url.startswith(f"{LOOKUP_URL}/pdf/") and "/documents/" not in url
    pdf = await stack.http.get(url)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    kept = await stack.publishing.rendering.pdfs.get(record.document_id)
    assert pdf.status_code == 200 and kept is not None and pdf.content == kept.pdf
    assert pdf.headers["cache-control"] == "no-store"
    assert pdf.headers["content-disposition"] == f'inline; filename="{record.document_id}.pdf"'
    # Publishing handed it to the lookup's own token (the service role), and recorded the read.
    trail = stack.publishing.runtime.audit.entries
    read = await eventually(
        lambda: trail.find_one(
            {
                "action": "GET /documents/{document_id}/pdf",
                "outcome": 200,
                "params.document_id": record.document_id,
            }
        )
    )
    assert read["actor"]["client_id"] == LOOKUP_CLIENT and read["actor"]["roles"] == ["service"]
    assert read["targets"]["student_ids"] == [record.record.student_id]
    # Publishing's own PDF URL stays closed to the parent.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.publishing.app), base_url="http://p"
    ) as p:
        assert (await p.get(f"/documents/{record.document_id}/pdf")).status_code == 401


async def test_a_forged_altered_or_expired_ticket_gets_the_same_404(
    stack: Stack, record: Fixture
) -> None:
    tickets: PdfTickets = stack.lookup.app.state.tickets
    good = tickets.issue(record.document_id)
    payload, mac = good.split(".")
    unknown = tickets.issue("HB-2024-0000-0000-0000")
    bad = {
        "expired": tickets.issue(record.document_id, now=time.time() - PDF_TICKET_SECONDS - 1),
        "another key": PdfTickets(
            derived_key("someone-elses-secret-0123456789", "pdf-ticket")
        ).issue(record.document_id),
        "altered mac": f"{payload}.{mac[:-3]}{'A' if mac[-3] != 'A' else 'B'}{mac[-2:]}",
        "mac of another ticket": f"{payload}.{unknown.split('.')[1]}",
        "no mac": payload,
        "the document id": record.document_id,
        "garbage": "x" * 400,
        "unknown document": unknown,
    }
    pages = {}
    for what, ticket in bad.items():
        response = await stack.http.get(f"/pdf/{ticket}")
        assert response.status_code == 404, what
        assert (
            response.headers["content-type"].startswith("text/html")
            and "tra cứu lại" in response.text
        )
        pages[what] = _without_nonce(response.text)
    assert len(set(pages.values())) == 1, "every bad ticket gets the same answer"
    assert (await stack.http.get(f"/pdf/{good}")).status_code == 200


async def test_without_a_valid_service_token_the_lookup_gets_no_pdf(
    stack: Stack, record: Fixture, local_infra: LocalInfra, pki: DevPKI
) -> None:
    wrong = build(
        lookup_settings(
            local_infra,
            _databases("lookup"),
            pki,
            oidc_client_secret="not-the-lookups-client-secret",
        ),
        publishing_transport=httpx.ASGITransport(app=stack.publishing.app),
    )
    try:
        ticket = wrong.app.state.tickets.issue(record.document_id)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=wrong.app), base_url=LOOKUP_URL
        ) as http:
            refused = await http.get(f"/pdf/{ticket}")
        assert (
            refused.status_code == 503
            and "thử lại" in refused.text
            and b"%PDF" not in refused.content
        )
        # The same ticket (same lookup secret) works for the lookup whose client secret is right.
        assert (await stack.http.get(f"/pdf/{ticket}")).status_code == 200
    finally:
        await wrong.pdfs.close()


async def test_the_service_token_comes_from_the_issuer_and_is_kept_until_shortly_before_it_expires(
    local_infra: LocalInfra,
) -> None:
    secret = local_infra.issuer.register_client(LOOKUP_CLIENT, ["service"])
    now = [1_000.0]
    credentials = ClientCredentials(
        local_infra.issuer.url,
        LOOKUP_CLIENT,
        SecretStr(secret),
        margin_seconds=30,
        clock=lambda: now[0],
    )
    try:
        first = await credentials.token()
        claims = jwt.decode(
            first,
            local_infra.issuer.key.public_key(),
            algorithms=["RS256"],
            audience="hocba",
            issuer=local_infra.issuer.url,
        )
        assert claims["azp"] == LOOKUP_CLIENT and claims["realm_access"]["roles"] == ["service"]
        lifetime = claims["exp"] - claims["iat"]
        assert await credentials.token() == first
        now[0] += lifetime - 31
        assert await credentials.token() == first
        now[0] += 2  # within 30 s of its expiry: a new one
        second = await credentials.token()
        assert second != first and await credentials.token() == second
        credentials.forget(second)
        assert await credentials.token() not in (first, second)
    finally:
        await credentials.close()
    wrong = ClientCredentials(
        local_infra.issuer.url, LOOKUP_CLIENT, SecretStr("not-the-secret-0123456789")
    )
    try:
        with pytest.raises(PdfUnavailable):
            await wrong.token()
    finally:
        await wrong.close()


async def test_the_form_is_refused_without_its_csrf_token_and_accepted_with_it(
    stack: Stack, record: Fixture
) -> None:
    app = httpx.ASGITransport(app=stack.lookup.app)
    async with (
        httpx.AsyncClient(transport=app, base_url=LOOKUP_URL) as alice,
        httpx.AsyncClient(transport=app, base_url=LOOKUP_URL) as mallory,
    ):
        form = await alice.get("/")
        cookie = form.headers["set-cookie"]
        assert (
            cookie.startswith("hocba_csrf=")
            and "HttpOnly" in cookie
            and "SameSite=strict" in cookie.replace("Strict", "strict")
            and "Path=/" in cookie
            and "Secure" not in cookie
        )
        token = await form_token(alice)
        assert (
            "set-cookie" not in (await alice.get("/")).headers
        )  # the cookie stays while the browser keeps it
        refusals = {
            "no token": await alice.post("/tra-cuu", data=record.lookup),
            "wrong token": await alice.post(
                "/tra-cuu", data={**record.lookup, "csrf_token": "0" * 64}
            ),
            "another browser's token": await mallory.post(
                "/tra-cuu", data={**record.lookup, "csrf_token": token}
            ),
        }
        mallory_token = await form_token(mallory)
        refusals["a token for another cookie"] = await alice.post(
            "/tra-cuu", data={**record.lookup, "csrf_token": mallory_token}
        )
        for what, refused in refusals.items():
            assert refused.status_code == 403, what
            assert (
                "Biểu mẫu đã hết hạn" in refused.text
                and "tải lại trang tra cứu" in refused.text.lower()
            ), what
            assert NAME not in refused.text and record.document_id not in refused.text, what
        accepted = await alice.post("/tra-cuu", data={**record.lookup, "csrf_token": token})
        assert (
            accepted.status_code == 200
            and NAME in accepted.text
            and record.document_id in accepted.text
        )
        again = await mallory.post("/tra-cuu", data={**record.lookup, "csrf_token": mallory_token})
        assert again.status_code == 200 and record.document_id in again.text


async def test_over_https_the_form_cookie_is_secure(local_infra: LocalInfra, pki: DevPKI) -> None:
    svc = build(
        lookup_settings(
            local_infra, _databases("lookup"), pki, public_url="https://tra-cuu.hocba.example"
        )
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=svc.app), base_url="https://tra-cuu.hocba.example"
        ) as http:
            page = await http.get("/")
        assert page.status_code == 200 and "Secure" in page.headers["set-cookie"]
        assert "HttpOnly" in page.headers["set-cookie"]
        assert page.headers["strict-transport-security"].startswith("max-age=")
    finally:
        await svc.pdfs.close()


async def test_every_page_carries_the_csp_nonce_on_its_style(stack: Stack, record: Fixture) -> None:
    http = stack.http
    token = await form_token(http)
    pages = {
        "form": await http.get("/"),
        "results": await http.post("/tra-cuu", data={**record.lookup, "csrf_token": token}),
        "form with errors": await http.post(
            "/tra-cuu", data={"citizen_id": "1", "date_of_birth": "x", "csrf_token": token}
        ),
        "form refused": await http.post("/tra-cuu", data=record.lookup),
        "verify": await http.get(f"/verify/{record.document_id}"),
        "verify, unknown": await http.get("/verify/HB-2024-0000-0000-0000"),
        "pdf, bad ticket": await http.get("/pdf/x"),
    }
    nonces = set()
    for what, page in pages.items():
        csp = page.headers["content-security-policy"]
        found = re.search(r"'nonce-([^']+)'", csp)
        assert found, what
        nonce = found.group(1)
        assert re.findall(r"<style[^>]*>", page.text) == [f'<style nonce="{nonce}">'], what
        assert "unsafe-inline" not in csp and "style-src 'nonce-" in csp, what
        nonces.add(nonce)
    assert len(nonces) == len(pages), "a fresh nonce on every response"


async def test_every_public_answer_that_shows_a_childs_record_is_in_the_audit_trail(
    stack: Stack, record: Fixture
) -> None:
    student_id = record.record.student_id
    await stack.http.post("/api/lookup", json=record.lookup, headers={"x-forwarded-for": "ignored"})
    await stack.http.get(f"/verify/{record.document_id}")
    await stack.http.get("/")
    trail = stack.lookup.runtime.audit.entries

    async def entries() -> list[dict[str, Any]]:
        found = await trail.find(
            {"targets.student_ids": student_id, "actor.id": "anonymous"}
        ).to_list(None)
        return (
            found
            if {"POST /api/lookup", "GET /verify/{document_id}"} <= {e["action"] for e in found}
            else []
        )

    shown = await eventually(entries, timeout=20)
    lookup = next(e for e in shown if e["action"] == "POST /api/lookup")
    assert lookup["kind"] == "read" and lookup["outcome"] == 200 and lookup["origin"]
    assert not await trail.count_documents({"action": "GET /"}), (
        "the empty form shows nothing of anyone"
    )
    assert record.citizen_id not in str(shown) and BORN.isoformat() not in str(shown)
