"""The publishing service against the real local broker and database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.topics import PUBLISHING_EVENTS, SIGNING_EVENTS  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, eventually, payloads, produce, read_topic  # noqa: E402
from hocba_publishing.bootstrap import Publishing, build  # noqa: E402
from hocba_publishing.config import PublishingSettings  # noqa: E402
from publishing_fixtures import SCHOOL_ID, STUDENT_NAME, document, signed_record  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("publishing-pki"))
    p.create()
    return p


@pytest.fixture
async def publishing(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Publishing]:
    svc = build(
        PublishingSettings(
            **local_infra.settings(mongo_database=unique_db("publishing")),
            trust_roots=[str(pki.root_file)],
            crl_files=[str(pki.crl_file("personal-ca"))],
        )
    )
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()


async def test_signed_record_is_published_once_with_its_pdf_and_tampered_ones_are_dead_lettered(
    publishing: Publishing, local_infra: LocalInfra, pki: DevPKI
) -> None:
    good = signed_record(pki)
    bad = signed_record(pki)
    bad.document["result"]["level_label"] = "Hoàn thành"  # changed after signing
    good_env = make_envelope(good, source="hocba/signing")
    bad_env = make_envelope(bad, source="hocba/signing")
    await produce(local_infra.kafka_bootstrap, SIGNING_EVENTS.name, [good_env, bad_env, good_env])

    def mine(msgs: list[Any]) -> list[dict[str, Any]]:
        return [
            p for p in payloads(msgs) if p["data"]["record_id"] in (good.record_id, bad.record_id)
        ]

    out = mine(
        await read_topic(
            local_infra.kafka_bootstrap,
            PUBLISHING_EVENTS.name,
            until=lambda m: len(mine(m)) >= 1,
            timeout=60,
        )
    )
    published = out[0]["data"]
    assert published["record_id"] == good.record_id
    dead = await read_topic(
        local_infra.kafka_bootstrap,
        SIGNING_EVENTS.dead_letter,
        until=lambda m: any(bad_env.id.encode() in x.value for x in m),
        timeout=30,
    )
    error = next(
        dict(x.headers)["hocba-error"].decode() for x in dead if bad_env.id.encode() in x.value
    )
    assert "tampered" in error and STUDENT_NAME not in error

    principal = local_infra.headers("principal", SCHOOL_ID, "HT-P")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=publishing.app), base_url="http://t", headers=principal
    ) as http:
        doc = (await http.get(f"/documents/{published['document_id']}")).json()
        assert doc["content_sha256"] == good.content_sha256
        pdf = await http.get(published["pdf_path"])
        assert (
            pdf.headers["content-type"] == "application/pdf"
            and pdf.headers["etag"] == f'"{hashlib.sha256(pdf.content).hexdigest()}"'
        )
        assert published["pdf_sha256"] is None, "the publication did not wait for its PDF"
        text = (
            await asyncio.to_thread(
                subprocess.run,
                ["pdftotext", "-enc", "UTF-8", "-", "-"],
                input=pdf.content,
                capture_output=True,
                check=True,
            )
        ).stdout.decode()
        assert STUDENT_NAME in text
        never = await http.get(f"/records/{bad.record_id}/documents")
        assert never.status_code == 404 and never.json()["error"]["code"] == "document_not_found"
        missing = await http.get("/documents/HB-2024-0000-0000-0000")
        assert (
            missing.status_code == 404 and missing.json()["error"]["code"] == "document_not_found"
        )

        async def versions() -> list[dict[str, Any]]:
            documents: list[dict[str, Any]] = (
                await http.get(f"/records/{good.record_id}/documents")
            ).json()["documents"]
            return documents

        assert len(await eventually(versions)) == 1
    # Version 2 of the same record shares its key (same partition), so once it is published the
    # redelivered version 1 before it has been consumed: still one document for version 1.
    later = signed_record(pki, document(good.student_id, version=2))
    await produce(
        local_infra.kafka_bootstrap,
        SIGNING_EVENTS.name,
        [make_envelope(later, source="hocba/signing")],
    )
    again = [
        p["data"]
        for p in mine(
            await read_topic(
                local_infra.kafka_bootstrap,
                PUBLISHING_EVENTS.name,
                until=lambda m: any(p["data"]["record_version"] == 2 for p in mine(m)),
                timeout=60,
            )
        )
    ]
    assert [d["record_version"] for d in again] == [1, 2]
    assert again[1]["supersedes"] == again[0]["document_id"]


async def test_a_revocation_over_http_is_announced_once_on_the_topic_and_shown_with_the_document_unchanged(
    publishing: Publishing, local_infra: LocalInfra, pki: DevPKI
) -> None:
    first = await publishing.service.publish(signed_record(pki))
    assert first is not None
    second = await publishing.service.publish(
        signed_record(pki, document(first.student_id, version=2))
    )
    assert second is not None and second.supersedes == first.document_id
    principal = local_infra.headers("principal", SCHOOL_ID, "HT-P")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=publishing.app), base_url="http://t", headers=principal
    ) as http:
        pdf_before = (await http.get(second.pdf_path)).content

        async def settled() -> dict[str, Any] | None:
            """The view once its PDF is rendered and its publication logged (within seconds)."""
            view: dict[str, Any] = (await http.get(f"/documents/{second.document_id}")).json()
            return view if view["pdf_sha256"] and view["log_index"] is not None else None

        before = await eventually(settled)
        assert before["status"] == "published" and before["revocation"] is None
        path = f"/documents/{second.document_id}/revocation"

        for body in ({}, {"reason": "   "}):
            empty = await http.post(path, json=body)
            assert empty.status_code == 422, empty.text
            error = empty.json()["error"]
            assert error["code"] == "invalid_revocation" and "give the reason" in error["message"]
            assert error["details"][0]["field"] == "reason"
        too_long = await http.post(path, json={"reason": "x" * 501})
        assert too_long.status_code == 422
        assert too_long.json()["error"]["details"][0]["field"] == "reason"

        done = await http.post(path, json={"reason": "Điểm môn Toán nhập sai, đã sửa lại"})
        assert done.status_code == 200, done.text
        revocation = done.json()["revocation"]
        assert done.json()["status"] == "revoked" and revocation["revoked_by"] == "HT-P"

        twice = await http.post(path, json={"reason": "Lần hai"})
        assert twice.status_code == 409
        error = twice.json()["error"]
        assert error["code"] == "already_revoked" and "by HT-P" in error["message"]
        revoked_at = datetime.fromisoformat(revocation["revoked_at"])
        assert revoked_at.isoformat(timespec="seconds") in error["message"]

        after = (await http.get(f"/documents/{second.document_id}")).json()
        assert after["status"] == "revoked" and after["revocation"] == revocation
        unchanged = {"status", "revocation"}
        assert {k: v for k, v in after.items() if k not in unchanged} == {
            k: v for k, v in before.items() if k not in unchanged
        }, "the published document itself is as it was"
        assert (await http.get(second.pdf_path)).content == pdf_before
        versions = (await http.get(f"/records/{first.record_id}/documents")).json()["documents"]
        assert [(d["record_version"], d["status"], d["superseded_by"]) for d in versions] == [
            (1, "superseded", second.document_id),
            (2, "revoked", None),
        ]
        assert versions[1]["revocation"] == revocation
        old = (await http.get(f"/documents/{first.document_id}")).json()
        assert old["status"] == "superseded" and old["superseded_by"] == second.document_id

    def revoked(msgs: list[Any]) -> list[Any]:
        return [
            m
            for m in msgs
            if m.value.startswith(b"{")  # the topic is shared: another test's malformed record
            and (body := json.loads(m.value))["type"] == "hocba.publishing.record_revoked"
            and body["data"]["document_id"] == second.document_id
        ]

    found = revoked(
        await read_topic(
            local_infra.kafka_bootstrap,
            PUBLISHING_EVENTS.name,
            until=lambda m: bool(revoked(m)),
            timeout=30,
        )
    )
    assert len(found) == 1, "announced once: the refused and the repeated revocations emit nothing"
    assert found[0].key == second.student_id.encode()
    event = json.loads(found[0].value)
    assert event["subject"] == second.student_id and event["version"] == 1
    assert event["data"]["reason"] == "Điểm môn Toán nhập sai, đã sửa lại"
    assert datetime.fromisoformat(event["data"]["revoked_at"]) == revoked_at
