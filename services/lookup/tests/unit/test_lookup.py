"""Lookup: the HMAC index, projection, fresh verification and the portal's pages."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_lookup.adapters.trust import TrustListRecordVerifier  # noqa: E402
from hocba_lookup.application.use_cases import LookupService  # noqa: E402
from hocba_lookup.domain.model import UnknownDocument, lookup_key  # noqa: E402
from hocba_runtime.cms import TrustList  # noqa: E402
from hocba_runtime.devpki import DevPKI  # noqa: E402
from lookup_fixtures import BORN, FakeStore, published  # noqa: E402

pytestmark = pytest.mark.unit
SECRET = "unit-test-secret-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-pki"))
    p.create()
    return p


def service(pki: DevPKI, crls: list[str] = ()) -> tuple[LookupService, FakeStore]:  # type: ignore[assignment]
    store = FakeStore()
    trust = TrustList.from_pem_files([str(pki.root_file)], crls)
    return LookupService(store, store, TrustListRecordVerifier(trust), SECRET), store


def test_lookup_key_hides_the_id_and_depends_on_both_fields_and_the_secret() -> None:
    k = lookup_key(SECRET, "079314012345", BORN)
    assert len(k) == 64 and "079314012345" not in k
    assert k != lookup_key(SECRET, "079314012345", date(2014, 3, 1))
    assert k != lookup_key("another-secret-0123456789", "079314012345", BORN)


async def test_projection_is_idempotent_and_lookup_verifies_afresh(pki: DevPKI) -> None:
    svc, store = service(pki)
    rec = published(pki, citizen_id="079314000111")
    env = make_envelope(rec, source="hocba/publishing")
    assert await svc.project(rec, env) is True
    assert await svc.project(rec, env) is False
    found = await svc.find("079314000111", BORN)
    assert [e.document_id for e in found] == [rec.document_id]
    assert await svc.find("079314000111", date(2014, 1, 1)) == []
    entry, verification = await svc.document(rec.document_id)
    assert verification.valid and verification.content_intact
    assert [s.role for s in verification.signatures] == ["homeroom_teacher", "principal"]
    with pytest.raises(UnknownDocument):
        await svc.document("HB-2024-0000-0000-0000")


async def test_altered_content_and_revoked_signer_are_reported_invalid_with_the_reason(pki: DevPKI) -> None:
    svc, store = service(pki)
    rec = published(pki)
    await svc.project(rec)
    store.rows[rec.document_id][0].document["result"]["level_label"] = "Hoàn thành xuất sắc"
    _, verification = await svc.document(rec.document_id)
    assert not verification.valid and not verification.content_intact
    assert {s.reason for s in verification.signatures} == {"tampered"}

    teacher = pki.issue("GV-L-REVOKED", "Mai Thị Yến", save=False)
    rec2 = published(pki, teacher=teacher)
    crl = pki.write_crl("personal-ca", [(teacher.certificate.serial_number, datetime.now(UTC) - timedelta(minutes=5))])
    svc2, _ = service(pki, [str(crl)])
    await svc2.project(rec2)
    _, verification = await svc2.document(rec2.document_id)
    assert not verification.valid
    assert verification.signatures[0].reason == "revoked" and "thu hồi" in (verification.signatures[0].message_vi or "")
    assert verification.signatures[1].valid
    pki.write_crl("personal-ca", [])


async def test_a_new_version_marks_the_old_one_superseded(pki: DevPKI) -> None:
    svc, store = service(pki)
    v1 = published(pki, citizen_id="079314000222", student_id="HS-SUP")
    v2 = published(pki, citizen_id="079314000222", student_id="HS-SUP", version=2, supersedes=v1.document_id)
    await svc.project(v2)  # may arrive first
    await svc.project(v1)
    statuses = {e.document_id: e.status for e in await svc.find("079314000222", BORN)}
    assert statuses == {v1.document_id: "superseded", v2.document_id: "published"}


def test_portal_templates_render_vietnamese() -> None:
    from hocba_lookup.entrypoints.http import templates

    page = templates.get_template("index.html").render(errors=["Ngày sinh viết theo dạng ngày/tháng/năm"], citizen_id="", date_of_birth="")
    assert "Tra cứu học bạ số" in page and "Số định danh cá nhân" in page
    results = templates.get_template("results.html").render(documents=[])
    assert "Không tìm thấy" in results
