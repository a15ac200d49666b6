"""The transparency log as the lookup serves it to anybody, with the real publishing service
behind it: a document's bundle verifies with the log's key alone, a revocation reaches it within
seconds, proofs for fixed sizes may be cached forever, and a publishing that cannot be reached is
a 503 that says so."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually  # noqa: E402
from hocba_lookup.bootstrap import build  # noqa: E402
from hocba_trust import logentry, note  # noqa: E402
from hocba_trust.logentry import document_status, verify_bundle  # noqa: E402
from lookup_fixtures import personal_values, signed, unlock_correction  # noqa: E402
from lookup_stack import Stack, lookup_settings, running  # noqa: E402

pytestmark = pytest.mark.integration

ORIGIN = "hocba.local/publishing"
CITIZEN_ID = "079314055577"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-log-pki"))
    p.create()
    return p


@pytest.fixture
async def stack(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Stack]:
    async with running(local_infra, unique_db, pki) as s:
        yield s


async def _bundle(stack: Stack, document_id: str, kinds: int) -> dict[str, Any]:
    async def proven() -> dict[str, Any] | None:
        r = await stack.http.get(f"/log/documents/{document_id}")
        body: dict[str, Any] = r.json()
        return body if r.status_code == 200 and len(body["entries"]) >= kinds else None

    found: dict[str, Any] = await eventually(proven, timeout=30)
    return found


async def test_a_documents_log_entries_verify_from_the_lookup_alone_and_a_revocation_follows(
    stack: Stack, local_infra: LocalInfra, pki: DevPKI
) -> None:
    document_id = await stack.publish(signed(pki, citizen_id=CITIZEN_ID))
    http = stack.http
    key = note.Verifier.from_key((await http.get("/log/key")).text.strip())
    assert key.key() == stack.publishing.log.verifier_key
    first = verify_bundle(await _bundle(stack, document_id, 1), key, ORIGIN)
    assert document_status(document_id, first.entries) == "published"
    answer = await http.get(f"/log/documents/{document_id}")
    assert answer.headers["cache-control"] == "public, max-age=1"
    assert not [v for v in personal_values(CITIZEN_ID) if v in answer.text]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.publishing.app),
        base_url="http://publishing.test",
        headers=local_infra.headers("principal", "079-TH-L", "HT-L"),
    ) as publishing:
        done = await publishing.post(
            f"/documents/{document_id}/revocation", json={"reason": "Cấp nhầm học bạ"}
        )
        assert done.status_code == 200, done.text
    after = verify_bundle(await _bundle(stack, document_id, 2), key, ORIGIN)
    assert document_status(document_id, after.entries) == "revoked"
    assert after.entries[1].entry["reason"] == "Cấp nhầm học bạ"

    # the older checkpoint is a prefix of the newer one, proven through the lookup
    proof = await http.get(
        "/log/proof/consistency",
        params={"old": first.checkpoint.size, "new": after.checkpoint.size},
    )
    assert proof.headers["cache-control"] == "public, max-age=31536000, immutable"
    if first.checkpoint.size != after.checkpoint.size:
        note.verify_checkpoints_consistent(
            first.checkpoint,
            after.checkpoint,
            [logentry.unb64(h) for h in proof.json()["proof"]],
        )
    # publishing's refusal passes through as it is, and is not cached
    beyond = await http.get("/log/proof/inclusion", params={"index": 0, "size": 10**9})
    assert beyond.status_code == 422 and beyond.json()["error"]["code"] == "outside_the_log"
    assert beyond.headers["cache-control"] == "no-store"
    assert (
        await http.get("/log/proof/inclusion", params={"index": -1, "size": 1})
    ).status_code == 422
    assert (await http.get(f"/log/entries/{2**64}")).status_code == 422


async def test_without_publishing_the_log_is_a_503_that_says_so(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> None:
    lookup = build(
        lookup_settings(local_infra, unique_db("lookup"), pki, publishing_url="http://127.0.0.1:9")
    )
    await lookup.runtime.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=lookup.app), base_url="http://lookup.test"
        ) as http:
            r = await http.get("/log/checkpoint")
        assert r.status_code == 503
        assert r.json()["error"]["message"].startswith("the transparency log cannot be read")
    finally:
        await lookup.runtime.stop()


async def test_a_correction_shows_both_versions_the_old_one_superseded_with_its_reason(
    stack: Stack, pki: DevPKI
) -> None:
    citizen_id, student = "079314055588", "HS-CORR-0001"
    first = await stack.publish(signed(pki, citizen_id=citizen_id, student_id=student))
    reason = "Sai điểm Toán cuối năm, đã nhập lại"
    correction = unlock_correction(reason)
    second = await stack.publish(
        signed(pki, citizen_id=citizen_id, version=2, student_id=student, correction=correction)
    )
    http = stack.http

    async def superseded() -> dict[str, Any] | None:
        body: dict[str, Any] = (await http.get(f"/api/documents/{first}")).json()
        return body if body["status"] == "superseded" else None

    old = await eventually(superseded, timeout=30)
    assert old["superseded_by"] == second and old["superseded_reason"] == reason
    new = (await http.get(f"/api/documents/{second}")).json()
    assert new["status"] == "published" and new["correction_reason"] == reason
    page = await http.get(f"/verify/{first}")
    assert f"đã được thay bằng phiên bản mới {second} (lý do sửa: {reason})" in page.text
    # the log proves the supersession and its reason too
    key = note.Verifier.from_key((await http.get("/log/key")).text.strip())
    logged = verify_bundle(await _bundle(stack, first, 2), key, ORIGIN)
    assert document_status(first, logged.entries) == "superseded"
    assert logged.entries[1].entry["reason"] == reason
