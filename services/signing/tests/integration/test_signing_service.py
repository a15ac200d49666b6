"""The signing service against the real local broker and database."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.payloads.assessment import RecordCorrection  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_EVENTS, SIGNING_EVENTS  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra, payloads, produce, read_topic  # noqa: E402
from hocba_signing.bootstrap import build  # noqa: E402
from hocba_signing.config import SigningSettings  # noqa: E402
from hocba_trust.canonical import canonical_bytes  # noqa: E402
from hocba_trust.cms import (  # noqa: E402
    SigningIdentity,
    TrustList,
    sign_detached,
    verify_detached,
)
from signing_fixtures import SCHOOL_ID, closed_record  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(local_infra: LocalInfra) -> DevPKI:
    """The development CA the issuer process serves: server-side signers are certified there."""
    return local_infra.pki


def settings(
    local_infra: LocalInfra, db: str, pki: DevPKI, server_side: bool, keys: Path
) -> SigningSettings:
    return SigningSettings(
        **local_infra.settings(mongo_database=db),
        trust_roots=[str(pki.root_file)],
        crl_files=[str(pki.crl_file("personal-ca"))],
        server_side_signing=server_side,
        pki_dir=str(keys),
        dev_issue_on_demand=server_side,
        dev_ca_url=local_infra.dev_ca_url if server_side else None,
    )


async def test_closed_record_from_kafka_is_signed_verified_and_announced_once(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI, tmp_path: Path
) -> None:
    svc = build(settings(local_infra, unique_db("signing"), pki, server_side=True, keys=tmp_path))
    await svc.runtime.start()
    try:
        record = closed_record()
        env = make_envelope(record, source="hocba/assessment")
        await produce(local_infra.kafka_bootstrap, ASSESSMENT_EVENTS.name, [env, env])

        def mine(msgs: list[Any]) -> list[dict[str, Any]]:
            return [p for p in payloads(msgs) if p["data"]["record_id"] == record.record_id]

        out = mine(
            await read_topic(
                local_infra.kafka_bootstrap,
                SIGNING_EVENTS.name,
                until=lambda m: len(mine(m)) >= 1,
                timeout=60,
            )
        )
        signed = out[0]
        assert signed["causation_id"] == env.id
        content = canonical_bytes(signed["data"]["document"])
        trust = TrustList.from_pem_files([str(pki.root_file)])
        for sig in signed["data"]["signatures"]:
            verify_detached(content, base64.b64decode(sig["cms"]), trust)
        assert "correction" not in signed["data"]["document"]
        # A later version of the same record has the same key, so the same partition: once it is
        # signed, the redelivered duplicate before it has been consumed too. It says why it exists,
        # and its correction is signed with the rest of the document.
        correction = RecordCorrection(
            kind="unlock",
            reason="Sai điểm Toán cuối năm",
            approved_by="079-TH-T-QT",
            at=datetime(2025, 6, 12, 9, 30, tzinfo=UTC),
        )
        later = make_envelope(
            record.model_copy(update={"record_version": 2, "correction": correction}),
            source="hocba/assessment",
        )
        await produce(local_infra.kafka_bootstrap, ASSESSMENT_EVENTS.name, [later])
        again = mine(
            await read_topic(
                local_infra.kafka_bootstrap,
                SIGNING_EVENTS.name,
                until=lambda m: any(p["data"]["record_version"] == 2 for p in mine(m)),
                timeout=30,
            )
        )
        assert [p["data"]["record_version"] for p in again] == [1, 2]
        document = again[1]["data"]["document"]
        assert document["correction"] == correction.model_dump(mode="json")
        content = canonical_bytes(document)
        for sig in again[1]["data"]["signatures"]:
            verify_detached(content, base64.b64decode(sig["cms"]), trust)
    finally:
        await svc.runtime.stop()


async def test_a_poll_of_closed_records_is_signed_together_and_a_malformed_one_dead_lettered(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI, tmp_path: Path
) -> None:
    from hocba_contracts import dead_letter_topic
    from hocba_trust.cms import verify_document_signature

    records = [closed_record(teacher_id="GV-POLL-01", principal_id="HT-POLL-01") for _ in range(6)]
    envs = [make_envelope(r, source="hocba/assessment") for r in records]
    marker = f"not an envelope {envs[0].id}".encode()
    # In before the service starts, so that its first polls find them all.
    await produce(local_infra.kafka_bootstrap, ASSESSMENT_EVENTS.name, envs[:3])
    await produce(local_infra.kafka_bootstrap, ASSESSMENT_EVENTS.name, [marker])
    await produce(local_infra.kafka_bootstrap, ASSESSMENT_EVENTS.name, [*envs[3:], envs[0]])
    svc = build(settings(local_infra, unique_db("signing"), pki, server_side=True, keys=tmp_path))
    await svc.runtime.start()
    try:
        ids = {r.record_id for r in records}

        def mine(msgs: list[Any]) -> list[dict[str, Any]]:
            return [p for p in payloads(msgs) if p["data"]["record_id"] in ids]

        out = mine(
            await read_topic(
                local_infra.kafka_bootstrap,
                SIGNING_EVENTS.name,
                until=lambda m: len(mine(m)) >= len(records),
                timeout=60,
            )
        )
        assert sorted(p["data"]["record_id"] for p in out) == sorted(ids), "each once"
        trust = TrustList.from_pem_files([str(pki.root_file)])
        for signed in out:
            content = canonical_bytes(signed["data"]["document"])
            for sig in signed["data"]["signatures"]:
                verified = verify_document_signature(content, sig["cms"], sig.get("batch"), trust)
                assert sig["signer_id"] in verified.signer_subject
        dead = await read_topic(
            local_infra.kafka_bootstrap,
            dead_letter_topic(ASSESSMENT_EVENTS.name),
            until=lambda m: any(r.value == marker for r in m),
            timeout=30,
        )
        letter = next(r for r in dead if r.value == marker)
        headers = {k: v.decode() for k, v in letter.headers}
        assert headers["hocba-consumer"] == "hocba-signing" and "JSON" in headers["hocba-error"]
    finally:
        await svc.runtime.stop()


async def test_external_signing_over_http_refuses_untrusted_and_accepts_the_real_signers(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI, tmp_path: Path
) -> None:
    svc = build(
        settings(local_infra, unique_db("signing"), pki, server_side=False, keys=tmp_path / "keys")
    )
    await svc.runtime.start()
    try:
        record = closed_record(teacher_id="GV-HTTP-1", principal_id="HT-HTTP-1")
        await svc.service.open_request(record)
        teacher = pki.issue("GV-HTTP-1", "Vũ Đức Thắng")
        principal = pki.issue("HT-HTTP-1", "Phan Thị Kim Oanh")
        other = DevPKI(tmp_path / "rogue")
        other.create()
        rogue = other.issue("GV-HTTP-1", "Vũ Đức Thắng")
        as_teacher = local_infra.headers("teacher", SCHOOL_ID, "GV-HTTP-1")
        as_principal = local_infra.headers("principal", SCHOOL_ID, "HT-HTTP-1")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=svc.app), base_url="http://t"
        ) as http:
            base = f"/requests/{record.record_id}/versions/1"
            todo = (await http.get(base, headers=as_teacher)).json()
            assert todo["next_signer"]["signer_id"] == "GV-HTTP-1"
            assert [
                p["record_id"]
                for p in (await http.get("/signers/GV-HTTP-1/pending", headers=as_teacher)).json()
            ] == [record.record_id]
            content = base64.b64decode(todo["content_b64"])

            def sig(identity: SigningIdentity) -> str:
                return base64.b64encode(sign_detached(content, identity)).decode()

            r = await http.post(
                base + "/signatures",
                headers=as_teacher,
                json={"role": "homeroom_teacher", "signer_id": "GV-HTTP-1", "cms": sig(rogue)},
            )
            assert r.status_code == 422
            err = r.json()["error"]
            assert (
                err["code"] == "signature_invalid" and err["details"][0]["problem"] == "untrusted"
            )
            assert "tin cậy" in err["details"][0]["message_vi"]
            assert (await http.get(base, headers=as_teacher)).json()["signatures"] == []
            r = await http.post(
                base + "/signatures",
                headers=as_principal,
                json={"role": "principal", "signer_id": "HT-HTTP-1", "cms": sig(principal)},
            )
            assert r.status_code == 409
            r = await http.post(
                base + "/signatures",
                headers=as_teacher,
                json={"role": "homeroom_teacher", "signer_id": "GV-HTTP-1", "cms": "%%%"},
            )
            assert r.status_code == 422
            r = await http.post(
                base + "/signatures",
                headers=as_teacher,
                json={"role": "homeroom_teacher", "signer_id": "GV-HTTP-1", "cms": sig(teacher)},
            )
            assert r.status_code == 200 and r.json()["next_signer"]["role"] == "principal"
            r = await http.post(
                base + "/signatures",
                headers=as_principal,
                json={"role": "principal", "signer_id": "HT-HTTP-1", "cms": sig(principal)},
            )
            assert r.json()["status"] == "signed"

        def mine(msgs: list[Any]) -> list[dict[str, Any]]:
            return [p for p in payloads(msgs) if p["data"]["record_id"] == record.record_id]

        out = await read_topic(
            local_infra.kafka_bootstrap,
            SIGNING_EVENTS.name,
            until=lambda m: len(mine(m)) >= 1,
            timeout=30,
        )
        assert [s["signer_id"] for s in mine(out)[0]["data"]["signatures"]] == [
            "GV-HTTP-1",
            "HT-HTTP-1",
        ]
    finally:
        await svc.runtime.stop()


async def test_rejection_handover_and_reminders_against_the_real_database(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    svc = build(
        settings(local_infra, unique_db("signing"), pki, server_side=False, keys=tmp_path / "keys")
    )
    await svc.runtime.start()
    try:
        refused, moved = closed_record(teacher_id="GV-R1"), closed_record(teacher_id="GV-R1")
        for record in (refused, moved):
            await svc.service.open_request(record)
        substitute = local_infra.headers("teacher", SCHOOL_ID, "GV-R2")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=svc.app), base_url="http://t"
        ) as http:
            r = await http.post(
                f"/requests/{refused.record_id}/versions/1/rejection",
                headers=local_infra.headers("teacher", SCHOOL_ID, "GV-R1"),
                json={"role": "homeroom_teacher", "signer_id": "GV-R1", "reason": "Sai họ tên cha"},
            )
            assert r.status_code == 200 and r.json()["status"] == "rejected"
            r = await http.post(
                "/signers/GV-R1/handover",
                headers=local_infra.headers("school_admin", SCHOOL_ID, "ADMIN-9"),
                json={
                    "substitute_id": "GV-R2",
                    "substitute_name": "Ngô Thị Mai",
                    "reason": "chuyển trường",
                    "decided_by": "ADMIN-9",
                },
            )
            assert r.json()["requests"] == 1
            assert [
                p["record_id"]
                for p in (await http.get("/signers/GV-R2/pending", headers=substitute)).json()
            ] == [moved.record_id]
            history = (
                await http.get(f"/requests/{moved.record_id}/versions/1", headers=substitute)
            ).json()["history"]
            assert [h["action"] for h in history] == ["opened", "reassigned"]
        assert (
            await svc.service.send_reminders(
                datetime.now(UTC) + timedelta(days=14), timedelta(hours=1)
            )
            == 1
        )

        def mine(msgs: list[Any]) -> list[dict[str, Any]]:
            return [
                p
                for p in payloads(msgs)
                if p["data"]["record_id"] in (refused.record_id, moved.record_id)
            ]

        out = mine(
            await read_topic(
                local_infra.kafka_bootstrap,
                SIGNING_EVENTS.name,
                until=lambda m: len(mine(m)) >= 2,
                timeout=30,
            )
        )
        assert sorted(p["type"] for p in out) == [
            "hocba.signing.signature_reminder_due",
            "hocba.signing.signing_rejected",
        ]
    finally:
        await svc.runtime.stop()
