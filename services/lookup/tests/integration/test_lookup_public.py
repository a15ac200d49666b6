"""The lookup's public side, with the real publishing service behind it: every endpoint public as
its policy table says (matrix generated from the route table), no personal data in any public
answer, the parents' PDF by short-lived ticket fetched from publishing with the lookup's own service
token, CSRF on the form, the CSP nonce on every page."""

from __future__ import annotations

import logging
import re
import secrets
import sys
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
from hocba_lookup.domain.model import PdfUnavailable  # noqa: E402
from hocba_lookup.entrypoints.policies import POLICIES  # noqa: E402
from lookup_fixtures import BORN, NAME, new_citizen_id, personal_values, signed  # noqa: E402
from lookup_stack import (  # noqa: E402
    LOOKUP_CLIENT,
    LOOKUP_URL,
    Stack,
    form_token,
    lookup_settings,
    records,
    running,
    sign_in,
)
from pydantic import SecretStr  # noqa: E402

log = logging.getLogger(__name__)

pytestmark = pytest.mark.integration


@dataclass
class Fixture:
    """A published record of the fixture's student, as the lookup shows it, and the access code
    the school issued for it."""

    citizen_id: str
    document_id: str
    record: RecordSigned
    code: str = ""

    @property
    def lookup(self) -> dict[str, str]:
        return {
            "citizen_id": self.citizen_id,
            "date_of_birth": BORN.isoformat(),
            "access_code": self.code,
        }


def _databases(name: str) -> str:
    return f"t_{name}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-public-pki"))
    p.create()
    return p


@pytest.fixture(scope="module")
async def stack(local_infra: LocalInfra, pki: DevPKI) -> AsyncIterator[Stack]:
    # one client and one student sign in many times here: the rate limits are test_lookup_access's
    async with running(
        local_infra,
        _databases,
        pki,
        sign_in_attempts_per_client=1000,
        sign_in_attempts_per_student=1000,
    ) as s:
        yield s


@pytest.fixture(scope="module")
async def record(stack: Stack, pki: DevPKI) -> Fixture:
    citizen_id = new_citizen_id()
    rec = signed(pki, citizen_id=citizen_id)
    fixture = Fixture(citizen_id, await stack.publish(rec), rec)
    fixture.code = await stack.issue_code(rec.student_id)
    return fixture


def _without_nonce(text: str) -> str:
    return re.sub(r'nonce="[^"]+"', 'nonce=""', text)


class HoldsTheFormCookie:
    """The lookup's app as a browser that opened the form and signed in reaches it: every request
    carries the form's CSRF cookie and a parent's session (the matrix's calls carry no cookie of
    their own); the sign-outs end sessions of their own, so the others keep theirs."""

    def __init__(self, app: Any, cookie: str, sessions: dict[str, str]) -> None:
        self.app = app
        self.routes = app.routes
        self.cookie = cookie
        self.sessions = sessions

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            key = f"{scope['method']} {scope['path']}"
            session = self.sessions.get(key, self.sessions["*"])
            cookie = f"hocba_csrf={self.cookie}; hocba_session={session}"
            scope = {**scope, "headers": [*scope["headers"], (b"cookie", cookie.encode())]}
        await self.app(scope, receive, send)


async def _session_token(stack: Stack, record: Fixture) -> str:
    async with stack.browser() as http:
        assert (await sign_in(http, record.citizen_id, record.code)).status_code == 200
        return str(http.cookies["hocba_session"])


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
    sessions = {
        "*": await _session_token(stack, record),
        "POST /dang-xuat": await _session_token(stack, record),
        "DELETE /api/session": await _session_token(stack, record),
    }
    async with stack.browser() as http:
        assert (await sign_in(http, record.citizen_id, record.code)).status_code == 200
        pdf = (await http.get(f"/hoc-ba/pdf/{record.document_id}")).content
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
        "POST /dang-nhap": Call(
            "/dang-nhap",
            data={**record.lookup, "date_of_birth": "28/02/2014", "csrf_token": token},
        ),
        "GET /hoc-ba": Call("/hoc-ba"),
        "POST /dang-xuat": Call("/dang-xuat", data={"csrf_token": token}),
        "GET /hoc-ba/pdf/{document_id}": Call(f"/hoc-ba/pdf/{record.document_id}"),
        "GET /hoc-ba/so/{level}": Call("/hoc-ba/so/primary"),
        "POST /api/session": Call("/api/session", json=record.lookup),
        "DELETE /api/session": Call("/api/session"),
        "GET /api/session/records": Call("/api/session/records"),
        "POST /api/students/{student_id}/access-code": Call(
            f"/api/students/{record.record.student_id}/access-code"
        ),
        "POST /api/schools/{school_id}/access-codes": Call(
            "/api/schools/079-TH-L/access-codes",
            json={"school_year": "2024-2025", "class_name": "5B"},
        ),
        "DELETE /api/students/{student_id}/lockout": Call(
            f"/api/students/{record.record.student_id}/lockout"
        ),
        "GET /api/students/{student_id}/issued-copies": Call(
            f"/api/students/{record.record.student_id}/issued-copies"
        ),
        "GET /verify/{document_id}": Call(f"/verify/{record.document_id}"),
        "GET /verify": Call("/verify"),
        "POST /verify/pdf": Call(
            "/verify/pdf",
            data={"csrf_token": token},
            files={"pdf": ("hocba.pdf", pdf, "application/pdf")},
        ),
        "POST /api/verify": Call(
            "/api/verify", files={"pdf": ("hocba.pdf", pdf, "application/pdf")}
        ),
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
        HoldsTheFormCookie(stack.lookup.app, cookie, sessions),
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
    others = {
        "GET /lang/{lang}": 303,
        "POST /dang-nhap": 303,
        "POST /dang-xuat": 303,
        "DELETE /api/session": 204,
    }
    school = {
        e: 401 for e in mine if e.split(" ", 1)[1].startswith(("/api/students", "/api/schools"))
    }
    assert mine == dict.fromkeys(mine, 200) | others | school and len(mine) == 25, mine
    assert len(school) == 4
    rules = [POLICIES.rule(*e.split(" ", 1)) for e in mine if e not in school]
    assert all(rule is not None and rule.public for rule in rules)
    log.info(f"lookup authorization matrix: {len(cells)} calls over {len(calls)} endpoints")
    record.code = await stack.issue_code(record.record.student_id)  # the matrix re-issued it


async def test_no_public_answer_carries_the_personal_id_the_date_of_birth_or_the_parents(
    stack: Stack, record: Fixture
) -> None:
    http = stack.http
    signed_in = await sign_in(http, record.citizen_id, record.code)
    api_records = await http.get("/api/session/records")
    portal = await http.get("/hoc-ba")
    api_document = await http.get(f"/api/documents/{record.document_id}")
    verify = await http.get(f"/verify/{record.document_id}")
    token = await form_token(http)
    form = {**record.lookup, "csrf_token": token}
    vn_signed_in = await http.post(
        "/dang-nhap", data={**form, "date_of_birth": BORN.strftime("%d/%m/%Y")}
    )
    bad_date = await http.post("/dang-nhap", data={**form, "date_of_birth": "31/02/2014"})
    bad_id = await http.post("/dang-nhap", data={**form, "citizen_id": record.citizen_id[:11]})
    no_token = await http.post("/dang-nhap", data=record.lookup)
    api_bad_date = await http.post(
        "/api/session", json={**record.lookup, "date_of_birth": "28/02/2014"}
    )
    api_bad_id = await http.post(
        "/api/session", json={**record.lookup, "citizen_id": record.citizen_id[:11]}
    )
    answers = {
        "api sign-in": (signed_in, 200),
        "api records": (api_records, 200),
        "portal": (portal, 200),
        "api document": (api_document, 200),
        "verify page": (verify, 200),
        "form": (await http.get("/"), 200),
        "sign-in (dd/mm/yyyy)": (vn_signed_in, 303),
        "form, bad date": (bad_date, 422),
        "form, bad id": (bad_id, 422),
        "form, no token": (no_token, 403),
        "api, bad date": (api_bad_date, 422),
        "api, bad id": (api_bad_id, 422),
    }
    for what, (response, status) in answers.items():
        assert response.status_code == status, (what, response.status_code)
        seen = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        leaked = [v for v in [*personal_values(record.citizen_id), record.code] if v in seen]
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
    assert "pdf_url" not in document  # a verifier holding only the document id gets no PDF
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
    assert "/hoc-ba/pdf/" not in verify.text and "Ngày sinh" not in verify.text
    # Nor the student's id, which names the child in the education database.
    for response in (api_records, api_document, verify, portal):
        assert record.record.student_id not in response.text
    for name in ("citizen_id", "date_of_birth", "access_code"):  # never written back
        assert re.search(rf'name="{name}"[^>]*value=', bad_date.text) is None
    assert "12 chữ số" in bad_id.text and "ngày/tháng/năm" in bad_date.text
    assert 'aria-describedby="citizen_id-error"' in bad_id.text
    assert NAME in portal.text and "Toán" in portal.text and "Đăng xuất" in portal.text
    assert api_records.json()["years"][0]["current"]["subjects"][0]["subject_name"] == "Toán"


async def test_a_parents_pdf_is_publishings_fetched_with_the_lookups_service_token(
    stack: Stack, record: Fixture
) -> None:
    async with stack.browser() as http:
        assert (await sign_in(http, record.citizen_id, record.code)).status_code == 200
        found = await records(http)
        assert [d["document_id"] for d in found] == [record.document_id]
        url = found[0]["pdf_url"]
        assert url == f"{LOOKUP_URL}/hoc-ba/pdf/{record.document_id}"
        pdf = await http.get(url)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    kept = await stack.publishing.rendering.pdfs.get(record.document_id)
    assert kept is not None and pdf.content == kept.pdf
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


async def test_without_a_valid_service_token_the_lookup_gets_no_pdf(
    stack: Stack, record: Fixture, local_infra: LocalInfra, pki: DevPKI
) -> None:
    wrong = build(
        lookup_settings(
            local_infra,
            stack.lookup.runtime.settings.mongo_database,
            pki,
            oidc_client_secret="not-the-lookups-client-secret",
        ),
        publishing_transport=httpx.ASGITransport(app=stack.publishing.app),
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=wrong.app), base_url=LOOKUP_URL
        ) as http:
            assert (await sign_in(http, record.citizen_id, record.code)).status_code == 200
            refused = await http.get(f"/hoc-ba/pdf/{record.document_id}")
        assert (
            refused.status_code == 503
            and "thử lại" in refused.text
            and b"%PDF" not in refused.content
        )
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
            "no token": await alice.post("/dang-nhap", data=record.lookup),
            "wrong token": await alice.post(
                "/dang-nhap", data={**record.lookup, "csrf_token": "0" * 64}
            ),
            "another browser's token": await mallory.post(
                "/dang-nhap", data={**record.lookup, "csrf_token": token}
            ),
        }
        mallory_token = await form_token(mallory)
        refusals["a token for another cookie"] = await alice.post(
            "/dang-nhap", data={**record.lookup, "csrf_token": mallory_token}
        )
        for what, refused in refusals.items():
            assert refused.status_code == 403, what
            assert (
                "Biểu mẫu đã hết hạn" in refused.text and "tải lại trang" in refused.text.lower()
            ), what
            assert NAME not in refused.text and record.document_id not in refused.text, what
            assert "hocba_session" not in refused.headers.get("set-cookie", ""), what
        accepted = await alice.post("/dang-nhap", data={**record.lookup, "csrf_token": token})
        assert accepted.status_code == 303 and "hocba_session=" in accepted.headers["set-cookie"]
        portal = await alice.get("/hoc-ba")
        assert NAME in portal.text and record.document_id in portal.text
        again = await mallory.post(
            "/dang-nhap", data={**record.lookup, "csrf_token": mallory_token}
        )
        assert again.status_code == 303


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
        "portal": await http.post(
            "/dang-nhap", data={**record.lookup, "csrf_token": token}, follow_redirects=True
        ),
        "form with errors": await http.post(
            "/dang-nhap",
            data={"citizen_id": "1", "date_of_birth": "x", "access_code": "", "csrf_token": token},
        ),
        "form refused": await http.post("/dang-nhap", data=record.lookup),
        "verify": await http.get("/verify/HB-2024-0000-0000-0000"),
        "verify, found": await http.get(f"/verify/{record.document_id}"),
        "pdf, not the student's": await http.get("/hoc-ba/pdf/HB-2024-0000-0000-0000"),
        "notices": await http.post(
            f"/api/students/{record.record.student_id}/access-code",
            params={"format": "notice"},
            headers=stack.staff(),
        ),
    }
    record.code = re.findall(r'<p class="code">([^<]+)</p>', pages["notices"].text)[0]
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
    async with stack.browser() as http:
        await http.post("/api/session", json=record.lookup, headers={"x-forwarded-for": "ignored"})
        assert (await http.get("/api/session/records")).status_code == 200
    await stack.http.get(f"/verify/{record.document_id}")
    await stack.http.get("/")
    trail = stack.lookup.runtime.audit.entries
    wanted = {"POST /api/session", "GET /api/session/records", "GET /verify/{document_id}"}

    async def entries() -> list[dict[str, Any]]:
        found = await trail.find(
            {"targets.student_ids": student_id, "actor.id": "anonymous"}
        ).to_list(None)
        return found if wanted <= {e["action"] for e in found} else []

    shown = await eventually(entries, timeout=20)
    read = next(e for e in shown if e["action"] == "GET /api/session/records")
    assert read["kind"] == "read" and read["outcome"] == 200 and read["origin"]
    assert read["origin"] != "ignored", "the client's own header does not choose its address"
    assert not await trail.count_documents({"action": "GET /"}), (
        "the empty form shows nothing of anyone"
    )
    assert record.citizen_id not in str(shown) and BORN.isoformat() not in str(shown)
    assert record.code not in str(shown)
