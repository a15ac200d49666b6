"""The lookup service against the real local broker, database and issuer, with the real publishing
service behind it."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.topics import PUBLISHING_EVENTS  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually, produce, read_topic  # noqa: E402
from hocba_lookup.bootstrap import build  # noqa: E402
from lookup_fixtures import NAME, personal_values, published, signed  # noqa: E402
from lookup_stack import (  # noqa: E402
    LOOKUP_URL,
    Stack,
    form_token,
    lookup_settings,
    records,
    running,
    sign_in,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-int-pki"))
    p.create()
    return p


@pytest.fixture
async def stack(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Stack]:
    async with running(local_infra, unique_db, pki) as s:
        yield s


async def test_published_record_is_found_verified_and_shown_in_the_portal(
    stack: Stack, pki: DevPKI
) -> None:
    rec = signed(pki, citizen_id="079314055501")
    await stack.publishing.service.publish(rec)
    document_id = (await stack.publishing.app.state.reader.find(rec.record_id, 1)).document_id
    http = stack.http

    async def shown() -> bool:
        return (await http.get(f"/api/documents/{document_id}")).status_code == 200

    await eventually(shown, timeout=60)
    code = await stack.issue_code(rec.student_id)
    assert (await sign_in(http, "079314055501", code)).status_code == 200
    docs = await records(http)
    assert docs[0]["document_id"] == document_id and docs[0]["student_name"] == NAME
    assert docs[0]["pdf_url"] == f"{LOOKUP_URL}/hoc-ba/pdf/{document_id}"
    pdf = await http.get(docs[0]["pdf_url"])
    kept = await stack.publishing.rendering.pdfs.get(document_id)
    assert pdf.status_code == 200 and kept is not None and pdf.content == kept.pdf
    full = (await http.get(f"/api/documents/{document_id}")).json()
    assert full["verification"]["valid"] is True and full["status"] == "published"

    bad = await http.post(
        "/api/session",
        json={"citizen_id": "07931", "date_of_birth": "28/02/2014", "access_code": code},
    )
    assert bad.status_code == 422
    fields = {d["field"] for d in bad.json()["error"]["details"]}
    assert fields == {"citizen_id", "date_of_birth"} and "07931" not in bad.text

    page = await http.get("/")
    assert page.status_code == 200 and "Tra cứu học bạ số" in page.text
    token = await form_token(http)
    results = await http.post(
        "/dang-nhap",
        data={
            "citizen_id": "079314055501",
            "date_of_birth": "28/02/2014",
            "access_code": code,
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert results.status_code == 200 and NAME in results.text and document_id in results.text
    wrong = await http.post(
        "/dang-nhap",
        data={
            "citizen_id": "1234",
            "date_of_birth": "hôm qua",
            "access_code": "x",
            "csrf_token": token,
        },
    )
    assert wrong.status_code == 422 and "12 chữ số" in wrong.text and "XXXX-XXXX-XXXX" in wrong.text
    verify = await http.get(f"/verify/{document_id}")
    assert "Hợp lệ" in verify.text and "Không hợp lệ" not in verify.text and NAME in verify.text
    missing = await http.get("/verify/HB-2024-0000-0000-0000")
    assert missing.status_code == 404
    assert (await http.get("/api/documents/HB-2024-0000-0000-0000")).json()["error"][
        "code"
    ] == "document_not_found"


async def test_a_revocation_published_later_shows_in_the_portal_for_signatures_made_after_it(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> None:
    """Key rotation and revocation (issue 4): the lookup re-verifies at every view against the
    CRLs as they are now. A teacher's certificate revoked at time R leaves what it signed before R
    valid and makes what it signed after R invalid, with the reason, once the CRL is refreshed."""
    crl = pki.write_crl("personal-ca", [])
    svc = build(
        lookup_settings(
            local_infra, unique_db("lookup"), pki, crl_files=[str(crl)], crl_refresh_seconds=0.2
        )
    )
    await svc.runtime.start()
    try:
        teacher = pki.issue("GV-L-ROTATED", "Mai Thị Yến", save=False)
        now = datetime.now(UTC)
        before = published(pki, teacher=teacher, signed_at=now)
        after = published(pki, teacher=teacher, signed_at=now + timedelta(seconds=10))
        await produce(
            local_infra.kafka_bootstrap,
            PUBLISHING_EVENTS.name,
            [make_envelope(r, source="hocba/publishing") for r in (before, after)],
        )
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=svc.app), base_url="http://t"
        ) as http:

            async def verified(document_id: str) -> dict[str, Any] | None:
                r = await http.get(f"/api/documents/{document_id}")
                if r.status_code != 200:
                    return None
                verification: dict[str, Any] = r.json()["verification"]
                return verification

            def signed_validly(v: dict[str, Any]) -> bool:
                """Intact and every signature valid: this lookup has no publishing behind it, so
                its transparency log cannot be checked, and the record is never `valid` here."""
                return bool(v["content_intact"]) and all(s["valid"] for s in v["signatures"])

            first = await eventually(lambda: verified(after.document_id), timeout=30)
            assert signed_validly(first) and first["valid"] is False
            assert first["outcome"] == "unchecked" and first["log"]["state"] == "unconfigured"
            # The personal CA revokes the teacher's certificate as of `now + 5 s` (the key was lost).
            pki.write_crl(
                "personal-ca", [(teacher.certificate.serial_number, now + timedelta(seconds=5))]
            )

            async def revoked() -> dict[str, Any] | None:
                v = await verified(after.document_id)
                return v if v and not signed_validly(v) else None

            v = await eventually(revoked, timeout=10)
            assert [(s["role"], s["valid"], s.get("reason")) for s in v["signatures"]] == [
                ("homeroom_teacher", False, "revoked"),
                ("principal", True, None),
            ]
            earlier = await verified(before.document_id)
            assert earlier is not None and signed_validly(earlier)  # signed before the revocation
            page = await http.get(f"/verify/{after.document_id}")
            assert "✘ Không hợp lệ" in page.text and "thu hồi" in page.text
            page = await http.get(f"/verify/{before.document_id}")
            assert "✘" not in page.text and "Chưa xác minh được đầy đủ lúc này" in page.text
    finally:
        await svc.runtime.stop()
        pki.write_crl("personal-ca", [])


async def test_a_revocation_made_in_publishing_shows_in_the_lookup_as_revoked_and_no_longer_valid(
    stack: Stack, local_infra: LocalInfra, pki: DevPKI
) -> None:
    citizen_id = "079314055502"
    document_id = await stack.publish(signed(pki, citizen_id=citizen_id))
    reason = "Cấp nhầm học bạ; nhà trường đã cấp lại bản đúng"
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.publishing.app),
        base_url="http://publishing.test",
        headers=local_infra.headers("principal", "079-TH-L", "HT-L"),
    ) as publishing:
        done = await publishing.post(
            f"/documents/{document_id}/revocation", json={"reason": reason}
        )
        assert done.status_code == 200, done.text
    revoked_at = datetime.fromisoformat(done.json()["revocation"]["revoked_at"])
    http = stack.http

    async def revoked() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(f"/api/documents/{document_id}")).json()
        return body if body["status"] == "revoked" else None

    shown = await eventually(revoked, timeout=30)
    assert shown["verification"]["valid"] is False and shown["verification"]["revoked"] is True
    assert shown["verification"]["content_intact"] is True
    assert shown["revocation"]["reason"] == reason
    assert datetime.fromisoformat(shown["revocation"]["revoked_at"]) == revoked_at
    local = revoked_at.astimezone(timezone(timedelta(hours=7)))
    assert shown["revocation"]["revoked_on"] == f"{local:%H:%M} ngày {local:%d/%m/%Y}"
    page = await http.get(f"/verify/{document_id}")
    assert page.status_code == 200
    assert "Đã bị thu hồi" in page.text and reason in page.text
    assert shown["revocation"]["revoked_on"] in page.text and "✔ Hợp lệ" not in page.text
    rec_student = await stack.lookup.service.reader.by_id(document_id)
    assert rec_student is not None
    assert (
        await sign_in(http, citizen_id, await stack.issue_code(rec_student.student_id))
    ).status_code == 200
    found = await http.get("/api/session/records")
    [summary] = [v for y in found.json()["years"] for v in y["versions"]]
    assert summary["status"] == "revoked" and summary["revocation"]["reason"] == reason
    assert summary["pdf_url"] is None and found.json()["years"][0]["current"] is None
    portal = await http.get("/hoc-ba")
    assert "đã bị thu hồi" in portal.text and reason in portal.text
    assert (await http.get(f"/hoc-ba/pdf/{document_id}")).status_code == 404
    for answer in (page, found, portal):
        assert not [v for v in personal_values(citizen_id) if v in answer.text]

    # Redelivered (the relay re-sent it, or a consumer restarted before committing): no change.
    def mine(msgs: list[Any]) -> list[Any]:
        return [m for m in msgs if b"record_revoked" in m.value and document_id.encode() in m.value]

    [message] = mine(
        await read_topic(
            local_infra.kafka_bootstrap,
            PUBLISHING_EVENTS.name,
            until=lambda m: bool(mine(m)),
            timeout=30,
        )
    )
    await produce(
        local_infra.kafka_bootstrap, PUBLISHING_EVENTS.name, [message.value], key=message.key
    )
    marker = published(pki)
    await produce(
        local_infra.kafka_bootstrap,
        PUBLISHING_EVENTS.name,
        [make_envelope(marker, source="hocba/publishing")],
        key=message.key,
    )

    async def projected() -> bool:
        return (await http.get(f"/api/documents/{marker.document_id}")).status_code == 200

    await eventually(projected, timeout=30)  # same key, same partition: the redelivery came first
    again = (await http.get(f"/api/documents/{document_id}")).json()
    assert again["revocation"] == shown["revocation"] and again["status"] == "revoked"
    stored = await stack.lookup.runtime.mongo.db.revocations.count_documents({"_id": document_id})
    assert stored == 1
