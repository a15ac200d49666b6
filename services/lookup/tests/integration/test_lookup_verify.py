"""The public verification, with the real publishing service behind it, its PDFs sealed with the
school's seal (a key in a SoftHSM2 token): a PDF a parent downloads verifies when uploaded, with
the school's seal and its entry in the transparency log; one flipped byte does not; a revoked or
superseded record says so (why, when, in Vietnam's time, by which version); the short code is
normalized and a malformed one gets a clear error; a log entry that is missing or whose proof is
forged fails; an unreachable log is "could not check now", never valid; nothing personal in any
verification page or answer."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[3] / "publishing" / "tests"))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually  # noqa: E402
from hocba_lookup.bootstrap import build  # noqa: E402
from hocba_lookup.entrypoints.pages import vn_time  # noqa: E402
from hocba_trust.note import Signer  # noqa: E402
from lookup_fixtures import (  # noqa: E402
    BORN,
    NAME,
    new_citizen_id,
    personal_values,
    published,
    signed,
    unlock_correction,
)
from lookup_seal import SCHOOL_ID, SCHOOL_NAME, school_seal  # noqa: E402
from lookup_stack import LOOKUP_URL, Stack, lookup_settings, running, sign_in  # noqa: E402

pytestmark = pytest.mark.integration

REVOKED_BECAUSE = "Cấp nhầm học bạ, nhà trường đã cấp lại"


def _databases(name: str) -> str:
    return f"t_{name}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-verify-pki"))
    p.create()
    return p


@pytest.fixture(scope="module")
async def stack(
    local_infra: LocalInfra, pki: DevPKI, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """Publishing seals each PDF with the school's seal, as in production (PAdES B-LT)."""
    seal = school_seal(pki, tmp_path_factory.mktemp("lookup-verify-seal"))
    async with running(local_infra, _databases, pki, publishing_extra=seal) as s:
        yield s


async def _pdf_of(stack: Stack, citizen_id: str, document_id: str) -> bytes:
    """The PDF as a parent downloads it: the school issues the access code, the parent signs in and
    follows the portal's link."""
    entry = await stack.lookup.service.reader.by_id(document_id)
    assert entry is not None
    code = await stack.issue_code(entry.student_id, school=entry.document["school"]["school_id"])
    async with stack.browser() as http:
        assert (await sign_in(http, citizen_id, code, BORN)).status_code == 200
        pdf = await http.get(f"/hoc-ba/pdf/{document_id}")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-"), pdf.status_code
    return pdf.content


async def _upload(http: httpx.AsyncClient, pdf: bytes, name: str = "hocba.pdf") -> httpx.Response:
    """The start page's upload form, as a browser sends it (its CSRF cookie and token)."""
    start = await http.get("/verify")
    token = re.search(r'name="csrf_token" value="([^"]+)"', start.text)
    assert start.status_code == 200 and token, start.status_code
    return await http.post(
        "/verify/pdf",
        data={"csrf_token": token.group(1)},
        files={"pdf": (name, pdf, "application/pdf")},
    )


def _no_personal(citizen_id: str, *answers: httpx.Response) -> None:
    for response in answers:
        seen = response.text + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        leaked = [v for v in personal_values(citizen_id) if v in seen]
        assert not leaked, (str(response.request.url), leaked)


async def test_a_downloaded_pdf_uploaded_verifies_with_the_schools_seal_and_its_log_entry(
    stack: Stack, pki: DevPKI
) -> None:
    citizen_id = new_citizen_id()
    document_id = await stack.publish(signed(pki, citizen_id=citizen_id))
    pdf = await _pdf_of(stack, citizen_id, document_id)
    assert len(pdf) < stack.lookup.runtime.settings.max_body_bytes / 2, len(pdf)

    page = await _upload(stack.http, pdf)
    assert page.status_code == 200, page.text
    assert "✔ Hợp lệ" in page.text and "✘" not in page.text, page.text
    assert "Dấu niêm phong PDF hợp lệ (dấu niêm phong của nhà trường)" in page.text
    assert "✔ Có trong sổ công khai: mục số" in page.text
    assert (
        "Chữ ký của Giáo viên chủ nhiệm: <strong>Mai Thị Yến</strong>, " + SCHOOL_NAME in page.text
    )
    assert (
        "chứng thư số do" in page.text
        and "Học bạ đã công bố mang mã này là phiên bản hiện hành" in page.text
    )

    api = await stack.http.post(
        "/api/verify", content=pdf, headers={"content-type": "application/pdf"}
    )
    body = api.json()
    assert api.status_code == 200 and body["outcome"] == "valid" and body["valid"], body
    v = body["verification"]
    assert body["known"] and body["document_id"] == document_id and v["content_intact"]
    assert v["seal"]["valid"] and any(SCHOOL_NAME in d for d in v["seal"]["details"])
    assert v["log"]["included"] and v["log"]["checkpoint_size"] >= v["log"]["index"] + 1
    signers = {s["role"]: s for s in v["signatures"]}
    assert signers["principal"]["signer_name"] == "Bùi Văn Lộc" and signers["principal"]["valid"]
    assert signers["principal"]["school"] == SCHOOL_NAME and signers["principal"]["issuer"]
    assert re.fullmatch(r"\d\d:\d\d ngày \d\d/\d\d/\d{4}", signers["principal"]["signed_on"])
    assert body["record"]["student_name"] == NAME and body["record"]["status"] == "published"

    # the document's own page and answer say the same, with its log entry
    by_code = await stack.http.get(f"/verify/{document_id}")
    assert "✔ Hợp lệ" in by_code.text and "✔ Có trong sổ công khai: mục số" in by_code.text
    document = (await stack.http.get(f"/api/documents/{document_id}")).json()
    assert (
        document["verification"]["outcome"] == "valid"
        and document["verification"]["log"]["included"]
    )
    assert {s["issuer"] for s in document["verification"]["signatures"]} and all(
        s["school"] == SCHOOL_NAME for s in document["verification"]["signatures"]
    )
    english = await stack.http.get(f"/verify/{document_id}", cookies={"hocba_lang": "en"})
    assert "✔ Valid" in english.text and "In the transparency log" in english.text
    assert "Signature of the principal: <strong>Bùi Văn Lộc</strong>" in english.text
    assert "(Vietnam time)" in english.text and "(giờ Việt Nam)" in by_code.text
    _no_personal(citizen_id, page, api, by_code, english)
    assert b"%PDF" not in page.content and b"%PDF" not in api.content


async def test_one_flipped_byte_makes_the_pdf_not_valid_and_says_why(
    stack: Stack, pki: DevPKI
) -> None:
    citizen_id = new_citizen_id()
    document_id = await stack.publish(signed(pki, citizen_id=citizen_id))
    pdf = bytearray(await _pdf_of(stack, citizen_id, document_id))
    pdf[300] ^= 0x01
    page = await _upload(stack.http, bytes(pdf))
    assert page.status_code == 200
    assert "✘ Không hợp lệ" in page.text and "✔ Hợp lệ" not in page.text
    api = (
        await stack.http.post(
            "/api/verify", content=bytes(pdf), headers={"content-type": "application/pdf"}
        )
    ).json()
    assert api["outcome"] == "invalid" and not api["valid"]
    reasons = api["unreadable"] or api["verification"]["seal"]
    assert reasons and not reasons.get("valid", False) and reasons["message_vi"]
    assert reasons["message_vi"] in page.text
    _no_personal(citizen_id, page)


async def test_a_revoked_record_says_so_why_and_when_in_vietnams_time(
    stack: Stack, pki: DevPKI, local_infra: LocalInfra
) -> None:
    citizen_id = new_citizen_id()
    document_id = await stack.publish(signed(pki, citizen_id=citizen_id))
    pdf = await _pdf_of(stack, citizen_id, document_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.publishing.app),
        base_url="http://publishing.test",
        headers=local_infra.headers("principal", SCHOOL_ID, "HT-L"),
    ) as publishing:
        done = await publishing.post(
            f"/documents/{document_id}/revocation", json={"reason": REVOKED_BECAUSE}
        )
        assert done.status_code == 200, done.text

    async def revoked() -> dict[str, Any] | None:
        body: dict[str, Any] = (await stack.http.get(f"/api/documents/{document_id}")).json()
        return body if body["status"] == "revoked" else None

    body = await eventually(revoked, timeout=30)
    assert body["verification"]["outcome"] == "revoked" and not body["verification"]["valid"]
    at = vn_time(datetime.fromisoformat(body["revocation"]["revoked_at"]))
    page = await stack.http.get(f"/verify/{document_id}")
    assert "✘ Đã bị thu hồi" in page.text and f"Lý do thu hồi: {REVOKED_BECAUSE}" in page.text
    assert f"lúc {at} (giờ Việt Nam)" in page.text, page.text
    uploaded = await _upload(stack.http, pdf)
    assert "✘ Đã bị thu hồi" in uploaded.text and REVOKED_BECAUSE in uploaded.text
    assert at in uploaded.text and "✔ Hợp lệ" not in uploaded.text
    _no_personal(citizen_id, page, uploaded)


async def test_a_superseded_version_says_so_with_the_newer_version_and_the_reason(
    stack: Stack, pki: DevPKI
) -> None:
    citizen_id, student = new_citizen_id(), f"HS-V-{uuid.uuid4().hex[:6]}"
    first = await stack.publish(signed(pki, citizen_id=citizen_id, student_id=student))
    pdf = await _pdf_of(stack, citizen_id, first)
    reason = "Sai điểm Toán cuối năm, đã nhập lại"
    correction = unlock_correction(reason)
    second = await stack.publish(
        signed(pki, citizen_id=citizen_id, version=2, student_id=student, correction=correction)
    )

    async def superseded() -> bool:
        r = await stack.http.get(f"/api/documents/{first}")
        return bool(r.json()["status"] == "superseded")

    await eventually(superseded, timeout=30)
    said = f"đã được thay bằng phiên bản mới {second} (lý do sửa: {reason})"
    page = await stack.http.get(f"/verify/{first}")
    assert said in page.text and f'href="/verify/{second}"' in page.text
    uploaded = await _upload(stack.http, pdf)
    assert said in uploaded.text
    body = (
        await stack.http.post(
            "/api/verify", content=pdf, headers={"content-type": "application/pdf"}
        )
    ).json()
    assert body["record"]["status"] == "superseded" and body["record"]["superseded_by"] == second
    _no_personal(citizen_id, page, uploaded)


async def test_the_short_code_is_normalized_a_malformed_one_is_explained_an_unknown_one_404(
    stack: Stack, pki: DevPKI
) -> None:
    citizen_id = new_citizen_id()
    document_id = await stack.publish(signed(pki, citizen_id=citizen_id))
    typed = document_id.lower().replace("-", " ")
    go = await stack.http.get("/verify", params={"code": f"  {typed} "})
    assert go.status_code == 303 and go.headers["location"] == f"/verify/{document_id}"
    joined = await stack.http.get("/verify", params={"code": document_id.replace("-", "")})
    assert joined.headers["location"] == f"/verify/{document_id}"
    bad = await stack.http.get("/verify", params={"code": "HB-2024-12"})
    assert bad.status_code == 422
    assert "Mã học bạ không đúng dạng" in bad.text and 'aria-describedby="code-error"' in bad.text
    assert "HB-2024-12" not in bad.text, "what was typed is not written back"
    english = await stack.http.get("/verify", params={"code": "nope"}, cookies={"hocba_lang": "en"})
    assert english.status_code == 422 and "That is not a document code" in english.text
    unknown = await stack.http.get("/verify/HB-2024-0000-0000-0000")
    other = await stack.http.get("/verify/HB-2099-ZZZZ-ZZZZ-ZZZZ")
    assert unknown.status_code == other.status_code == 404 and "Không tìm thấy" in unknown.text
    api_unknown = await stack.http.get("/api/documents/HB-2024-0000-0000-0000")
    assert api_unknown.status_code == 404


async def test_an_upload_that_is_not_a_pdf_too_large_or_without_its_form_token_is_refused(
    stack: Stack,
) -> None:
    text = await _upload(stack.http, b"hello, not a PDF", "notes.txt")
    assert text.status_code == 415 and "không phải tệp PDF" in text.text
    limit = stack.lookup.runtime.settings.max_body_bytes - 16 * 1024
    large = await _upload(stack.http, b"%PDF-1.7\n" + b"0" * limit)
    too_large_api = await stack.http.post(
        "/api/verify",
        content=b"%PDF-1.7\n" + b"0" * limit,
        headers={"content-type": "application/pdf"},
    )
    assert too_large_api.status_code == 413 and too_large_api.json()["error"]["code"] == "too_large"
    assert large.status_code == 413 and "Tệp quá lớn" in large.text
    no_token = await stack.http.post(
        "/verify/pdf", files={"pdf": ("a.pdf", b"%PDF-1.7", "application/pdf")}
    )
    assert no_token.status_code == 403 and "hết hạn" in no_token.text
    api = await stack.http.post(
        "/api/verify", content=b"plain", headers={"content-type": "text/plain"}
    )
    assert api.status_code == 415 and api.json()["error"]["code"] == "not_a_pdf"
    junk = await stack.http.post(
        "/api/verify", content=b"%PDF-1.7 junk", headers={"content-type": "application/pdf"}
    )
    assert junk.status_code == 200 and junk.json()["outcome"] == "invalid"
    assert junk.json()["unreadable"]["message_vi"]


async def test_a_record_missing_from_the_log_or_proven_under_another_key_is_not_valid(
    stack: Stack, pki: DevPKI, local_infra: LocalInfra
) -> None:
    # projected into the read model, but never published: the log has no entry for it
    unlogged = published(pki)
    await stack.lookup.service.project(unlogged)
    missing = (await stack.http.get(f"/api/documents/{unlogged.document_id}")).json()
    assert missing["verification"]["log"]["state"] == "missing"
    assert missing["verification"]["outcome"] == "invalid" and not missing["verification"]["valid"]
    page = await stack.http.get(f"/verify/{unlogged.document_id}")
    assert "✘ Không có trong sổ công khai" in page.text and "✘ Không hợp lệ" in page.text

    # a lookup that pins another log's key: publishing's bundle does not verify under it
    citizen_id = new_citizen_id()
    document_id = await stack.publish(signed(pki, citizen_id=citizen_id))
    other_key = Signer.generate("hocba.local/publishing").verifier().key()
    forged = build(
        lookup_settings(local_infra, _databases("lookup"), pki, log_key=other_key),
        publishing_transport=httpx.ASGITransport(app=stack.publishing.app),
    )
    try:  # not started: its HTTP answers need no consumer of the broker
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=forged.app), base_url=LOOKUP_URL
        ) as http:
            pdf = await _pdf_of(stack, citizen_id, document_id)
            body = (
                await http.post(
                    "/api/verify", content=pdf, headers={"content-type": "application/pdf"}
                )
            ).json()
        assert body["verification"]["log"]["state"] == "forged", body["verification"]["log"]
        assert body["outcome"] == "invalid" and not body["valid"]
    finally:
        await forged.pdfs.close()
        await forged.app.state.log.close()


async def test_an_unreachable_log_is_could_not_check_now_never_valid(
    local_infra: LocalInfra, pki: DevPKI
) -> None:
    key = Signer.generate("hocba.local/publishing").verifier().key()
    lookup = build(
        lookup_settings(
            local_infra, _databases("lookup"), pki, publishing_url="http://127.0.0.1:9", log_key=key
        )
    )
    try:  # not started: its HTTP answers need no consumer of the broker
        record = published(pki)
        await lookup.service.project(record)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=lookup.app), base_url=LOOKUP_URL
        ) as http:
            body = (await http.get(f"/api/documents/{record.document_id}")).json()
            page = await http.get(f"/verify/{record.document_id}")
        v = body["verification"]
        assert v["log"]["state"] == "unavailable" and v["outcome"] == "unchecked"
        assert not v["valid"] and v["content_intact"] and all(s["valid"] for s in v["signatures"])
        assert "Chưa xác minh được đầy đủ lúc này" in page.text and "✔ Hợp lệ" not in page.text
    finally:
        await lookup.pdfs.close()
        await lookup.app.state.log.close()
