"""Parents' access: the school's access codes, sign-in with the personal ID number, date of birth
and code, uniform failures, lockout, rate limits, sessions, CSRF, issued copies, and no personal
ID number or code in any page, header or log line; with the real publishing service, database and
broker behind the lookup."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from argon2 import extract_parameters  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually  # noqa: E402
from hocba_lookup.adapters.argon2_hasher import Argon2CodeHasher  # noqa: E402
from hocba_lookup.domain.access import (  # noqa: E402
    CLIENT_LIMIT,
    MAX_FAILURES,
    STUDENT_LIMIT,
    normalize_code,
)
from lookup_fixtures import BORN, NAME, new_citizen_id, personal_values, signed  # noqa: E402
from lookup_stack import LOOKUP_URL, Stack, records, running, sign_in  # noqa: E402

pytestmark = pytest.mark.integration

WRONG_BORN = date(2014, 3, 1)


def _databases(name: str) -> str:
    return f"t_{name}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-access-pki"))
    p.create()
    return p


@pytest.fixture(scope="module")
async def stack(local_infra: LocalInfra, pki: DevPKI) -> AsyncIterator[Stack]:
    async with running(local_infra, _databases, pki) as s:
        yield s


@dataclass
class Student:
    citizen_id: str
    student_id: str
    document_id: str


async def published_student(stack: Stack, pki: DevPKI) -> Student:
    cid = new_citizen_id()
    rec = signed(pki, citizen_id=cid)
    return Student(cid, rec.student_id, await stack.publish(rec))


def browser(stack: Stack) -> httpx.AsyncClient:
    """A browser of its own (cookies) at an address of its own (the rate limit counts per client)."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    transport = httpx.ASGITransport(app=stack.lookup.app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url=LOOKUP_URL)


async def csrf_token(http: httpx.AsyncClient) -> str:
    page = await http.get("/")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


async def form_sign_in(
    http: httpx.AsyncClient, citizen_id: str, code: str, born: date = BORN
) -> httpx.Response:
    return await http.post(
        "/dang-nhap",
        data={
            "citizen_id": citizen_id,
            "date_of_birth": born.strftime("%d/%m/%Y"),
            "access_code": code,
            "csrf_token": await csrf_token(http),
        },
    )


def _shape(response: httpx.Response) -> tuple[int, str]:
    """Status and body without what differs by design: the CSP nonce and the CSRF token."""
    text = re.sub(r'nonce="[^"]+"', 'nonce=""', response.text)
    text = re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', text)
    return response.status_code, text


def _other_code(code: str) -> str:
    """A well-formed code that is not `code`."""
    return ("2" if code[0] != "2" else "3") + code[1:]


async def test_a_wrong_date_of_birth_a_wrong_code_an_unknown_id_and_a_lockout_answer_alike(
    stack: Stack, pki: DevPKI
) -> None:
    alice, bob = await published_student(stack, pki), await published_student(stack, pki)
    code_a, code_b = (
        await stack.issue_code(alice.student_id),
        await stack.issue_code(bob.student_id),
    )
    hasher: Argon2CodeHasher = stack.lookup.access.hasher  # type: ignore[assignment]
    async with browser(stack) as http:
        for _ in range(MAX_FAILURES):  # bob's sign-in locks
            assert (await sign_in(http, bob.citizen_id, _other_code(code_b))).status_code == 401
        cases = {
            "wrong date of birth": (alice.citizen_id, code_a, WRONG_BORN),
            "wrong code": (alice.citizen_id, _other_code(code_a), BORN),
            "unknown id": (new_citizen_id(), code_a, BORN),
            "locked, right code": (bob.citizen_id, code_b, BORN),
        }
        pages, bodies, verifications = {}, {}, {}
        for what, (cid, code, born) in cases.items():
            before = hasher.verifications
            pages[what] = _shape(await form_sign_in(http, cid, code, born))
            json = await sign_in(http, cid, code, born)
            verifications[what] = hasher.verifications - before
            bodies[what] = (json.status_code, json.text)
            assert "set-cookie" not in json.headers or "hocba_session" not in json.headers.get(
                "set-cookie", ""
            ), what
        assert len(set(pages.values())) == 1, pages.keys()
        assert len(set(bodies.values())) == 1, bodies
        status, text = next(iter(pages.values()))
        assert status == 401 and "Không đăng nhập được" in text
        assert bodies["unknown id"][0] == 401
        # The same work: exactly one Argon2 verification per attempt, whatever the reason, against
        # a dummy hash of the very parameters of the real ones when there is nothing to check.
        assert verifications == dict.fromkeys(cases, 2), verifications
        stored = await stack.lookup.runtime.mongo.db.access_codes.find_one(
            {"_id": alice.student_id}
        )
        assert stored is not None
        assert extract_parameters(stored["code_hash"]) == extract_parameters(hasher.dummy)
        assert stored["code_hash"].startswith("$argon2id$")
        # And the right details sign in.
        assert (
            await sign_in(http, alice.citizen_id, code_a.lower().replace("-", " "))
        ).status_code == 200
        assert NAME in (await http.get("/hoc-ba")).text


async def test_the_lockout_holds_even_with_the_right_code_until_the_school_lifts_it(
    stack: Stack, pki: DevPKI
) -> None:
    s = await published_student(stack, pki)
    code = await stack.issue_code(s.student_id)
    async with browser(stack) as http:
        # guessing dates of birth for one ID counts against that ID
        for _ in range(MAX_FAILURES):
            assert (await sign_in(http, s.citizen_id, code, WRONG_BORN)).status_code == 401
        assert (await sign_in(http, s.citizen_id, code)).status_code == 401, "locked"
        assert (await http.get("/api/session/records")).status_code == 401
        other = await stack.http.delete(
            f"/api/students/{s.student_id}/lockout", headers=stack.staff(school="OTHER-1")
        )
        assert other.status_code == 403, "another school's administrator may not lift it"
        teacher = await stack.http.delete(
            f"/api/students/{s.student_id}/lockout", headers=stack.staff("teacher")
        )
        assert teacher.status_code == 403
        lifted = await stack.http.delete(
            f"/api/students/{s.student_id}/lockout", headers=stack.staff()
        )
        assert lifted.status_code == 200 and lifted.json() == {"lifted": True}
        assert (await sign_in(http, s.citizen_id, code)).status_code == 200
        assert (await http.get("/api/session/records")).status_code == 200


async def test_an_unknown_id_locks_the_same_way(stack: Stack) -> None:
    cid = new_citizen_id()
    async with browser(stack) as http:
        db = stack.lookup.runtime.mongo.db
        for _ in range(MAX_FAILURES):
            await sign_in(http, cid, "ABCD-EFGH-JKMN")
        locked = await db.sign_in_failures.find_one({"locked_until": {"$ne": None}, "count": 0})
        assert locked is not None and cid not in str(locked)


async def test_a_reissued_code_voids_the_old_one_and_ends_its_sessions(
    stack: Stack, pki: DevPKI
) -> None:
    s = await published_student(stack, pki)
    old = await stack.issue_code(s.student_id)
    async with browser(stack) as http:
        assert (await sign_in(http, s.citizen_id, old)).status_code == 200
        assert (await http.get("/api/session/records")).status_code == 200
        issued = await stack.http.post(
            f"/api/students/{s.student_id}/access-code", headers=stack.staff()
        )
        assert issued.status_code == 200
        new = issued.json()["codes"][0]
        assert new["access_code"] != old and new["sessions_ended"] == 1
        assert (await http.get("/api/session/records")).status_code == 401, "its session ended"
        assert (await http.get("/hoc-ba")).status_code == 401
        assert (await sign_in(http, s.citizen_id, old)).status_code == 401, "the old code is void"
        assert (await sign_in(http, s.citizen_id, new["access_code"])).status_code == 200
    refused = await stack.http.post(
        f"/api/students/{s.student_id}/access-code", headers=stack.staff(school="OTHER-1")
    )
    assert refused.status_code == 403
    unknown = await stack.http.post("/api/students/HS00000000/access-code", headers=stack.staff())
    assert unknown.status_code == 404


async def test_a_class_gets_its_notices_with_names_and_codes_and_never_the_personal_id(
    stack: Stack, pki: DevPKI
) -> None:
    s = await published_student(stack, pki)
    notices = await stack.http.post(
        "/api/schools/079-TH-L/access-codes",
        params={"format": "notice"},
        json={"school_year": "2024-2025", "class_name": "5B"},
        headers=stack.staff(),
    )
    assert notices.status_code == 200 and notices.headers["content-type"].startswith("text/html")
    codes = re.findall(r'<p class="code">([^<]+)</p>', notices.text)
    assert len(codes) >= 1 and all(normalize_code(c) for c in codes)
    assert NAME in notices.text and "5B" in notices.text and f"{LOOKUP_URL}/" in notices.text
    assert s.citizen_id not in notices.text
    for value in personal_values(s.citizen_id):
        assert value not in notices.text
    # the class's codes work: the newest one of this student is among them
    async with browser(stack) as http:
        assert any([(await sign_in(http, s.citizen_id, c)).status_code == 200 for c in codes])
    other = await stack.http.post(
        "/api/schools/079-TH-L/access-codes",
        json={"school_year": "2024-2025", "class_name": "5B"},
        headers=stack.staff(school="OTHER-1"),
    )
    assert other.status_code == 403


async def test_no_page_header_or_log_line_carries_the_personal_id_or_the_code(
    stack: Stack, pki: DevPKI, caplog: pytest.LogCaptureFixture
) -> None:
    s = await published_student(stack, pki)
    caplog.set_level(logging.DEBUG)
    issued = await stack.http.post(
        f"/api/students/{s.student_id}/access-code",
        params={"format": "notice"},
        headers=stack.staff(),
    )
    code = re.findall(r'<p class="code">([^<]+)</p>', issued.text)[0]
    secrets_ = [*personal_values(s.citizen_id), code, normalize_code(code) or ""]
    answers: list[httpx.Response] = [issued]
    async with browser(stack) as http:
        answers.append(await http.get("/"))
        answers.append(await form_sign_in(http, s.citizen_id, _other_code(code)))
        answers.append(await form_sign_in(http, s.citizen_id, "O0"))
        answers.append(await form_sign_in(http, s.citizen_id, code))
        answers.append(await http.get("/hoc-ba"))
        answers.append(await http.get("/api/session/records"))
        answers.append(await http.get(f"/hoc-ba/pdf/{s.document_id}"))
        answers.append(await http.get("/hoc-ba/so/primary"))
        answers.append(
            await http.post(
                "/api/session",
                json={
                    "citizen_id": s.citizen_id,
                    "date_of_birth": "28/02/2014",
                    "access_code": code,
                },
            )
        )
        answers.append(await sign_in(http, s.citizen_id, code))
        answers.append(
            await http.get("/lang/en", params={"next": "/hoc-ba"}, follow_redirects=True)
        )
        token = re.search(r'name="csrf_token" value="([^"]+)"', answers[-1].text)
        assert token
        answers.append(await http.post("/dang-xuat", data={"csrf_token": token.group(1)}))
        assert answers[4].status_code == 303 and answers[5].status_code == 200
        assert answers[7].status_code == 200 and answers[7].content.startswith(b"%PDF")
        for r in answers:
            seen = (r.text if "pdf" not in r.headers.get("content-type", "") else "") + "\n".join(
                f"{k}: {v}" for k, v in r.headers.items()
            )
            kept = (
                personal_values(s.citizen_id) if r is issued else secrets_
            )  # the notice has the code
            leaked = [v for v in kept if v and v in seen]
            assert not leaked, (r.request.url.path, leaked)
            assert s.citizen_id not in str(r.request.url)
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for value in (s.citizen_id, code, normalize_code(code) or "-"):
        assert value not in logged
    trail = await stack.lookup.runtime.audit.entries.find({}).to_list(None)
    assert s.citizen_id not in str(trail) and (normalize_code(code) or "-") not in str(trail)


async def test_the_session_cookie_is_httponly_strict_and_the_forms_need_their_csrf_token(
    stack: Stack, pki: DevPKI
) -> None:
    s = await published_student(stack, pki)
    code = await stack.issue_code(s.student_id)
    async with browser(stack) as http, browser(stack) as mallory:
        signed_in = await form_sign_in(http, s.citizen_id, code)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/hoc-ba"
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith("hocba_session=") and "HttpOnly" in cookie
        assert "samesite=strict" in cookie.lower() and "Path=/" in cookie
        assert "Secure" not in cookie and "max-age" not in cookie.lower()
        token = await mallory.get("/")
        no_token = await mallory.post(
            "/dang-nhap",
            data={"citizen_id": s.citizen_id, "date_of_birth": "28/02/2014", "access_code": code},
        )
        assert no_token.status_code == 403 and "hocba_session" not in no_token.headers.get(
            "set-cookie", ""
        )
        assert token.status_code == 200
        # signing out needs the page's token too
        assert (await http.post("/dang-xuat", data={"csrf_token": "0" * 64})).status_code == 403
        assert (await http.get("/api/session/records")).status_code == 200
        # the JSON sign-in takes JSON only: a cross-site form cannot send it
        form_encoded = await mallory.post(
            "/api/session",
            data={"citizen_id": s.citizen_id, "date_of_birth": "2014-02-28", "access_code": code},
        )
        text_plain = await mallory.post(
            "/api/session",
            content=f'{{"citizen_id":"{s.citizen_id}","date_of_birth":"2014-02-28","access_code":"{code}"}}',
            headers={"content-type": "text/plain"},
        )
        assert form_encoded.status_code == 415 and text_plain.status_code == 415
        assert "hocba_session" not in mallory.cookies
        # signing out ends the session on the server, not only in the browser
        session = http.cookies["hocba_session"]
        assert (await http.delete("/api/session")).status_code == 204
        async with browser(stack) as replay:
            replay.cookies.set("hocba_session", session)
            assert (await replay.get("/api/session/records")).status_code == 401
        stored = await stack.lookup.runtime.mongo.db.sessions.count_documents(
            {"student_id": s.student_id}
        )
        assert stored == 0


async def test_too_many_attempts_get_a_429_with_retry_after(stack: Stack) -> None:
    async with browser(stack) as http:
        statuses = [
            (await sign_in(http, new_citizen_id(), "ABCD-EFGH-JKMN")).status_code
            for _ in range(CLIENT_LIMIT.attempts)
        ]
        assert set(statuses) == {401}
        limited = await sign_in(http, new_citizen_id(), "ABCD-EFGH-JKMN")
        assert limited.status_code == 429
        assert 0 < int(limited.headers["retry-after"]) <= CLIENT_LIMIT.window_seconds + 1
        body = limited.json()["error"]
        assert body["code"] == "too_many_attempts" and "phút" in body["message_vi"]
        page = await form_sign_in(http, new_citizen_id(), "ABCD-EFGH-JKMN")
        assert page.status_code == 429 and "retry-after" in page.headers
    # per student: from many addresses, one ID is limited all the same
    cid = new_citizen_id()
    statuses = []
    for _ in range(STUDENT_LIMIT.attempts + 1):
        async with browser(stack) as http:
            statuses.append((await sign_in(http, cid, "ABCD-EFGH-JKMN")).status_code)
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}


async def test_each_download_is_recorded_as_an_issued_copy_for_the_school_and_the_auditor(
    stack: Stack, pki: DevPKI
) -> None:
    s = await published_student(stack, pki)
    code = await stack.issue_code(s.student_id)
    async with browser(stack) as http:
        assert (await sign_in(http, s.citizen_id, code)).status_code == 200
        found = await records(http)
        assert [v["document_id"] for v in found] == [s.document_id]
        year = await http.get(found[0]["pdf_url"])
        assert year.status_code == 200 and year.headers["content-type"] == "application/pdf"
        kept = await stack.publishing.rendering.pdfs.get(s.document_id)
        assert kept is not None and year.content == kept.pdf
        book = await http.get("/hoc-ba/so/primary")
        assert book.status_code == 200 and book.content.startswith(b"%PDF")
        # another student's record is not this session's to download
        other = await published_student(stack, pki)
        assert (await http.get(f"/hoc-ba/pdf/{other.document_id}")).status_code == 404
    async with browser(stack) as anonymous:
        assert (await anonymous.get(f"/hoc-ba/pdf/{s.document_id}")).status_code == 401
    copies = await stack.http.get(
        f"/api/students/{s.student_id}/issued-copies", headers=stack.staff("principal")
    )
    assert copies.status_code == 200
    listed = copies.json()["copies"]
    assert [(c["kind"], [d["document_id"] for d in c["documents"]]) for c in listed] == [
        ("book", [s.document_id]),
        ("year", [s.document_id]),
    ]
    assert listed[0]["documents"][0]["record_version"] == 1 and listed[0]["sign_in_id"]
    assert listed[0]["sign_in_id"] == listed[1]["sign_in_id"]
    auditor = stack.issuer.token(roles=["auditor"])
    assert (
        await stack.http.get(
            f"/api/students/{s.student_id}/issued-copies",
            headers={"authorization": f"Bearer {auditor}"},
        )
    ).status_code == 200
    assert (
        await stack.http.get(
            f"/api/students/{s.student_id}/issued-copies", headers=stack.staff(school="OTHER-1")
        )
    ).status_code == 403
    # the audit trail says who looked at whose records
    trail = stack.lookup.runtime.audit.entries

    async def portal_reads() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await trail.find(
            {"targets.student_ids": s.student_id, "action": "GET /hoc-ba/pdf/{document_id}"}
        ).to_list(None)
        return found

    assert await eventually(portal_reads, timeout=20)


async def test_a_session_lapses_when_idle_and_at_its_cap_and_a_lockout_at_its_end(
    stack: Stack,
) -> None:
    from datetime import UTC, datetime, timedelta

    from hocba_lookup.adapters.mongo_access import MongoAccessStore
    from hocba_lookup.domain.access import (
        LOCKOUT_SECONDS,
        SESSION_IDLE_SECONDS,
        SESSION_MAX_SECONDS,
        Session,
    )

    store = MongoAccessStore(stack.lookup.runtime.mongo)
    start = datetime.now(UTC)
    idle = timedelta(seconds=SESSION_IDLE_SECONDS)
    h = uuid.uuid4().hex
    await store.create_session(h, Session("s1", "HS-T", "079-TH-L", start, start + idle))
    # each use renews the idle time...
    at = start
    while at + idle < start + timedelta(seconds=SESSION_MAX_SECONDS):
        at += idle - timedelta(seconds=1)
        renewed = await store.session(h, at)
        assert renewed is not None and renewed.expires_at <= start + timedelta(
            seconds=SESSION_MAX_SECONDS
        )
    # ...up to the cap, and not past it
    assert await store.session(h, start + timedelta(seconds=SESSION_MAX_SECONDS + 1)) is None
    idle_one = uuid.uuid4().hex
    await store.create_session(idle_one, Session("s2", "HS-T", "079-TH-L", start, start + idle))
    assert await store.session(idle_one, start + idle + timedelta(seconds=1)) is None
    key = uuid.uuid4().hex
    for _ in range(MAX_FAILURES):
        await store.failed(key, start)
    assert await store.locked(key, start + timedelta(seconds=LOCKOUT_SECONDS - 1))
    assert not await store.locked(key, start + timedelta(seconds=LOCKOUT_SECONDS + 1))
