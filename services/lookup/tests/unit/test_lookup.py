"""Lookup: the HMAC index, projection, fresh verification, access codes, the settings, the public
answers' models and the portal's pages."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_lookup.adapters.trust import TrustListRecordVerifier  # noqa: E402
from hocba_lookup.application.use_cases import LookupService  # noqa: E402
from hocba_lookup.config import LookupSettings  # noqa: E402
from hocba_lookup.domain.model import (  # noqa: E402
    UnknownDocument,
    derived_key,
    lookup_key,
)
from hocba_trust.cms import TrustList  # noqa: E402
from lookup_fixtures import BORN, FakeStore, published, revoked  # noqa: E402

pytestmark = pytest.mark.unit
SECRET = "unit-test-secret-0123456789"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("lookup-pki"))
    p.create()
    return p


def service(pki: DevPKI, crls: Iterable[str] = ()) -> tuple[LookupService, FakeStore]:
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


async def test_altered_content_and_revoked_signer_are_reported_invalid_with_the_reason(
    pki: DevPKI,
) -> None:
    svc, store = service(pki)
    rec = published(pki)
    await svc.project(rec)
    store.rows[rec.document_id][0].document["result"]["level_label"] = "Hoàn thành xuất sắc"
    _, verification = await svc.document(rec.document_id)
    assert not verification.valid and not verification.content_intact
    assert {s.reason for s in verification.signatures} == {"tampered"}

    teacher = pki.issue("GV-L-REVOKED", "Mai Thị Yến", save=False)
    rec2 = published(pki, teacher=teacher)
    crl = pki.write_crl(
        "personal-ca",
        [(teacher.certificate.serial_number, datetime.now(UTC) - timedelta(minutes=5))],
    )
    svc2, _ = service(pki, [str(crl)])
    await svc2.project(rec2)
    _, verification = await svc2.document(rec2.document_id)
    assert not verification.valid
    assert verification.signatures[0].reason == "revoked" and "thu hồi" in (
        verification.signatures[0].message_vi or ""
    )
    assert verification.signatures[1].valid
    pki.write_crl("personal-ca", [])


async def test_a_new_version_marks_the_old_one_superseded(pki: DevPKI) -> None:
    svc, store = service(pki)
    v1 = published(pki, citizen_id="079314000222", student_id="HS-SUP")
    v2 = published(
        pki, citizen_id="079314000222", student_id="HS-SUP", version=2, supersedes=v1.document_id
    )
    await svc.project(v2)  # may arrive first
    await svc.project(v1)
    statuses = {e.document_id: e.status for e in await svc.find("079314000222", BORN)}
    assert statuses == {v1.document_id: "superseded", v2.document_id: "published"}


def _records(*versions: dict[str, Any]) -> Any:
    from hocba_lookup.entrypoints.http import RecordsOut

    vs = [
        {"published_at": "2025-06-01T02:00:00+00:00", "grade": 5, **_revoked_summary(), **v}
        for v in versions
    ]
    return RecordsOut.model_validate(
        {
            "student_name": "Trịnh Thị Thanh Thảo",
            "school_name": "Trường Tiểu học Hòa Bình",
            "session_expires_at": "2025-06-01T03:00:00+00:00",
            "years": [
                {
                    "school_year": "2024-2025",
                    "level": "primary",
                    "current": next((v for v in vs if v["status"] == "published"), None),
                    "versions": vs,
                }
            ],
            "books": [{"level": "primary", "level_name": "Tiểu học", "pdf_url": "http://t/b"}],
        }
    )


def test_portal_templates_render_vietnamese() -> None:
    from hocba_lookup.entrypoints.pages import render

    page = render(
        "index.html",
        errors={"date_of_birth": "Ngày sinh viết theo dạng ngày/tháng/năm"},
        csrf_field="csrf_token",
        csrf_token="t0k3n",
        nonce="n0nce",
    )
    assert "Tra cứu học bạ số" in page and "Số định danh cá nhân" in page and "Mã truy cập" in page
    assert (
        '<input type="hidden" name="csrf_token" value="t0k3n">' in page
        and '<style nonce="n0nce">' in page
    )
    assert 'aria-describedby="date_of_birth-error"' in page and 'id="date_of_birth-error"' in page
    english = render("index.html", lang="en", errors={}, csrf_field="c", csrf_token="t")
    assert "Sign in" in english and 'lang="en"' in english and "Đăng nhập" not in english
    current = {"status": "published", "revocation": None, "pdf_url": "http://t/hoc-ba/pdf/x"}
    results = render(
        "results.html", nonce="n0nce", r=_records(current), csrf_field="c", csrf_token="t"
    )
    assert "Học bạ số của Trịnh Thị Thanh Thảo" in results and "đang có hiệu lực" in results
    assert 'action="/dang-xuat"' in results and "http://t/hoc-ba/pdf/x" in results
    assert "Sổ học bạ cấp Tiểu học" in results


def test_every_template_puts_the_csp_nonce_on_each_inline_style() -> None:
    import re

    from hocba_lookup.entrypoints.pages import render, templates

    loader = templates.loader
    assert loader is not None
    for name in templates.list_templates():
        source = loader.get_source(templates, name)[0]
        styles = re.findall(r"<style[^>]*>", source)
        assert all('nonce="{{ nonce }}"' in tag for tag in styles), name
        page = render(
            name,
            nonce="n0nce",
            r=_records({"status": "published", "revocation": None}),
            notices=[],
            documents=[],
            errors={},
            found=False,
            title="t",
            text="x",
            document_id="HB-1",
        )
        assert page.count("<style") == page.count('<style nonce="n0nce">') == 1, name


PERSONAL_FIELDS = {
    "citizen_id",
    "date_of_birth",
    "place_of_birth",
    "parents",
    "occupation",
    "phone",
    "student",
    "document",
    "ethnicity",
    "sex",
    "student_id",
    "record_id",
}


def _fields(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for name, prop in schema.get("properties", {}).items():
        out.add(name)
        for ref in [
            prop.get("$ref"),
            prop.get("items", {}).get("$ref"),
            *(a.get("$ref") for a in prop.get("anyOf", [])),
            *(a.get("items", {}).get("$ref") for a in prop.get("anyOf", [])),
        ]:
            if ref:
                out |= _fields(defs[ref.rsplit("/", 1)[1]], defs)
        if prop.get("additionalProperties") not in (None, False):
            out.add(f"{name}: free-form")
    return out


def test_the_public_answers_models_carry_no_personal_field_at_all() -> None:
    """Data minimization by construction: what a model has no field for, no answer can carry."""
    from hocba_lookup.entrypoints.http import RecordsOut
    from hocba_lookup.entrypoints.views import DocumentOut, PdfVerificationOut

    for model in (RecordsOut, DocumentOut, PdfVerificationOut):
        schema = model.model_json_schema()
        fields = _fields(schema, schema.get("$defs", {}))
        assert "student_name" in fields and "school_name" in fields and "class_name" in fields
        assert not fields & PERSONAL_FIELDS, (model.__name__, fields & PERSONAL_FIELDS)
        assert not [f for f in fields if f.endswith("free-form")], fields
    doc_fields = _fields(DocumentOut.model_json_schema(), DocumentOut.model_json_schema()["$defs"])
    assert {"signer_name", "subject_name", "result", "status", "school_year", "grade"} <= doc_fields


def test_access_codes_are_random_unambiguous_grouped_and_typed_loosely() -> None:
    from hocba_lookup.domain.access import CODE_ALPHABET, new_code, normalize_code, student_key

    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(
        re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}", c) for c in codes
    )
    assert not set("01ILO") & set(CODE_ALPHABET) and len(CODE_ALPHABET) == 31
    assert 12 * math.log2(len(CODE_ALPHABET)) >= 50
    used = {ch for c in codes for ch in c if ch != "-"}
    assert used == set(CODE_ALPHABET), "every symbol is drawn"
    code = "ABCD-EFGH-JKMN"
    for typed in ("abcd-efgh-jkmn", " ABCD EFGH JKMN ", "ABCDEFGHJKMN", "abcd_efgh.jkmn"):
        assert normalize_code(typed) == "ABCDEFGHJKMN", typed
    for bad in ("ABCD-EFGH-JKM", "ABCD-EFGH-JKMO", "ABCD-EFGH-JKM1", "", "ABCD-EFGH-JKMNP"):
        assert normalize_code(bad) is None, bad
    assert normalize_code(code) == "ABCDEFGHJKMN"
    key = student_key(SECRET, "079314055501")
    assert "079314055501" not in key and len(key) == 64
    assert key != student_key(SECRET, "079314055502") != student_key("x" * 30, "079314055501")
    assert key != lookup_key(SECRET, "079314055501", BORN)


async def test_the_dummy_hash_has_the_parameters_of_the_real_ones_and_never_verifies() -> None:
    from argon2 import extract_parameters
    from hocba_lookup.adapters.argon2_hasher import Argon2CodeHasher

    hasher = Argon2CodeHasher()
    real = await hasher.hash("ABCDEFGHJKMN")
    assert real.startswith("$argon2id$") and "ABCDEFGHJKMN" not in real
    assert extract_parameters(real) == extract_parameters(hasher.dummy)
    assert await hasher.verify(real, "ABCDEFGHJKMN") is True
    assert await hasher.verify(real, "ABCDEFGHJKMP") is False
    assert await hasher.verify(None, "ABCDEFGHJKMN") is False
    assert hasher.verifications == 3


def test_each_purpose_has_its_own_key_derived_from_the_lookup_secret() -> None:
    keys = {derived_key(SECRET, p) for p in ("csrf", "another-purpose")}
    assert len(keys) == 2 and SECRET.encode() not in keys
    assert derived_key(SECRET, "csrf") != derived_key("another-secret-0123456789", "csrf")


def test_settings_keep_the_secrets_secret_and_production_refuses_placeholders(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dev = LookupSettings(
        environment="development",
        lookup_secret=SECRET,
        oidc_client_secret="client-secret-0123456789",
    )
    assert SECRET not in repr(dev) and "client-secret-0123456789" not in repr(dev)
    with pytest.raises(ValueError, match="at least 16 characters") as short:
        LookupSettings(environment="development", lookup_secret="short-secret")
    assert "short-secret" not in str(short.value)
    good: dict[str, Any] = {
        "oidc_issuer": "https://sso.example.vn/realms/hocba",
        "kafka_security_protocol": "SSL",
    }
    with pytest.raises(ValueError, match="LOOKUP_SECRET is a placeholder") as placeholder:
        LookupSettings(**good, oidc_client_secret="client-secret-0123456789")
    assert "client-secret-0123456789" not in str(placeholder.value)
    with pytest.raises(ValueError, match="OIDC_CLIENT_SECRET"):
        LookupSettings(**good, lookup_secret="a-long-random-production-secret-42")
    monkeypatch.setenv("HOCBA_LOOKUP_OIDC_CLIENT_SECRET", "client-secret-0123456789")
    monkeypatch.setenv("HOCBA_LOOKUP_LOOKUP_SECRET", "a-long-random-production-secret-42")
    monkeypatch.setenv("HOCBA_LOOKUP_PUBLISHING_URL", "http://publishing:8104")
    with pytest.raises(ValueError, match="HOCBA_LOOKUP_LOG_KEY"):
        LookupSettings(**good)
    monkeypatch.setenv("HOCBA_LOOKUP_LOG_KEY", "hocba.hcm.edu.vn/publishing+abcd1234+AAAA")
    prod = LookupSettings(**good)
    assert prod.publishing_url == "http://publishing:8104" and prod.oidc_client_id == "hocba-lookup"
    assert not hasattr(prod, "allow_dev_secret") and not hasattr(prod, "publishing_public_url")


async def test_a_revoked_record_no_longer_verifies_and_a_redelivery_changes_nothing(
    pki: DevPKI,
) -> None:
    svc, store = service(pki)
    rec = published(pki, citizen_id="079314000333")
    await svc.project(rec, make_envelope(rec, source="hocba/publishing"))
    revocation = revoked(rec)
    env = make_envelope(revocation, source="hocba/publishing")
    assert await svc.revoke(revocation, env) is True
    assert await svc.revoke(revocation, env) is False, "a redelivery is dropped"
    entry, verification = await svc.document(rec.document_id)
    assert entry.status == "revoked" and entry.revocation is not None
    assert (entry.revocation.reason, entry.revocation.revoked_at) == (
        revocation.reason,
        revocation.revoked_at,
    )
    assert verification.revoked and not verification.valid
    assert verification.content_intact and all(s.valid for s in verification.signatures), (
        "what was signed is intact: it is the school that withdrew it"
    )
    assert [e.status for e in await svc.find("079314000333", BORN)] == ["revoked"]


async def test_a_revocation_stands_when_its_publication_comes_after_it_or_again(
    pki: DevPKI,
) -> None:
    svc, store = service(pki)
    rec = published(pki)
    await svc.revoke(revoked(rec), make_envelope(revoked(rec), source="hocba/publishing"))
    await svc.project(rec, make_envelope(rec, source="hocba/publishing"))
    entry, verification = await svc.document(rec.document_id)
    assert entry.status == "revoked" and not verification.valid
    # Replayed from the topic's start after the inbox forgot it: a new delivery, projected again.
    await svc.project(rec, make_envelope(rec, source="hocba/publishing"))
    entry, _ = await svc.document(rec.document_id)
    assert entry.revocation is not None and entry.revocation.reason == revoked(rec).reason


async def test_a_revoked_version_stays_revoked_once_a_newer_one_supersedes_it(pki: DevPKI) -> None:
    svc, _ = service(pki)
    v1 = published(pki, citizen_id="079314000444", student_id="HS-REV")
    await svc.project(v1)
    await svc.revoke(revoked(v1))
    v2 = published(
        pki, citizen_id="079314000444", student_id="HS-REV", version=2, supersedes=v1.document_id
    )
    await svc.project(v2)
    statuses = {e.document_id: e.status for e in await svc.find("079314000444", BORN)}
    assert statuses == {v1.document_id: "revoked", v2.document_id: "published"}
    entry, _ = await svc.document(v1.document_id)
    assert entry.superseded_by == v2.document_id


def _revoked_summary(**change: Any) -> dict[str, Any]:
    return {
        "document_id": "HB-2024-ABCD-EFGH-JKMN",
        "record_version": 1,
        "status": "revoked",
        "superseded_by": None,
        "revocation": {
            "reason": "Cấp nhầm <b>học bạ</b>",
            "revoked_at": "2025-06-02T09:15:30+00:00",
            "revoked_on": "16:15 ngày 02/06/2025",
        },
        "verification": {"valid": False, "content_intact": True, "revoked": True, "signatures": []},
        "student_name": "Trịnh Thị Thanh Thảo",
        "school_name": "Trường Tiểu học Hòa Bình",
        "class_name": "5B",
        "school_year": "2024-2025",
        "subjects": [],
        "result": "Hoàn thành tốt",
        "content_sha256": "a" * 64,
        "verification_url": "http://t/verify/HB-2024-ABCD-EFGH-JKMN",
        "pdf_url": "http://t/pdf/x",
        **change,
    }


def test_the_pages_say_in_vietnamese_that_a_revoked_record_is_revoked_why_and_when() -> None:
    from hocba_lookup.entrypoints.pages import render

    verify = render("verify.html", nonce="n", found=True, r=_revoked_summary(), roles={})
    assert "✘ Đã bị thu hồi" in verify and "16:15 ngày 02/06/2025" in verify
    assert "Lý do thu hồi: Cấp nhầm &lt;b&gt;học bạ&lt;/b&gt;" in verify, "the reason is escaped"
    assert "không còn giá trị" in verify and "✔ Hợp lệ" not in verify
    results = render("results.html", nonce="n", r=_records({}), csrf_field="c", csrf_token="t")
    assert "đã bị thu hồi lúc 16:15 ngày 02/06/2025; lý do: Cấp nhầm &lt;b&gt;" in results
    assert "Học bạ năm học này đã bị nhà trường thu hồi" in results


def test_the_time_of_a_revocation_is_shown_in_vietnams_time() -> None:
    from hocba_lookup.domain.model import Revocation
    from hocba_lookup.entrypoints.views import revocation_out

    shown = revocation_out(Revocation("Cấp nhầm", datetime(2025, 6, 2, 20, 5, tzinfo=UTC)))
    assert shown.revoked_on == "03:05 ngày 03/06/2025"


def test_a_typed_document_code_is_normalized_and_a_malformed_one_refused() -> None:
    from hocba_lookup.domain.model import normalize_document_id

    printed = "HB-2024-7K3M-Q9XZ-0A1B"
    for typed in (
        printed,
        "hb-2024-7k3m-q9xz-0a1b",
        " HB 2024 7K3M Q9XZ 0A1B ",
        "HB20247K3MQ9XZ0A1B",
        "2024-7K3M-Q9XZ-0A1B",
        "HB–2024–7K3M–Q9XZ–OA1B",  # en dashes, the letter O for zero
        "hb.2024.7k3m.q9xz.0aib",  # I for one
    ):
        assert normalize_document_id(typed) == printed, typed
    for bad in (
        "",
        "HB-2024",
        "HB-2024-7K3M-Q9XZ-0A1",
        "HB-2024-7K3M-Q9XZ-0A1BC",
        "HB-20X4-7K3M-Q9XZ-0A1B",
        "HB-2024-7K3M-Q9XZ-0AUB",
        "079314012345",
        "HB-2024-7K3M-Q9XZ-0A1B" + "-0" * 20,
        "HB-２０２４-7K3M-Q9XZ-0A1B",
    ):
        assert normalize_document_id(bad) is None, bad


def test_a_verification_is_valid_only_when_every_check_passes_and_the_log_was_reached() -> None:
    from hocba_lookup.domain.model import LogCheck, SealCheck, SignatureCheck, Verification

    signed = [SignatureCheck("principal", "Bùi Văn Lộc", "t", True)]
    included = LogCheck("included", "Có", "In", index=3, checkpoint_size=9)
    assert Verification(True, signed).valid  # the log not asked: as before
    assert Verification(True, signed, log=included).outcome == "valid"
    for state in ("missing", "mismatch", "forged"):
        v = Verification(True, signed, log=LogCheck(state, "x", "x"))
        assert v.outcome == "invalid" and not v.valid, state
    for state in ("unavailable", "unconfigured"):
        v = Verification(True, signed, log=LogCheck(state, "x", "x"))  # type: ignore[arg-type]
        assert v.outcome == "unchecked" and not v.valid, state
    assert (
        Verification(True, signed, log=included, seal=SealCheck(False, "x", "x")).outcome
        == "invalid"
    )
    assert Verification(True, signed, log=included, problems=(("x", "x"),)).outcome == "invalid"
    assert Verification(False, signed, log=included).outcome == "invalid"
    assert Verification(True, [], log=included).outcome == "invalid"
    assert Verification(True, signed, log=included, revoked=True).outcome == "revoked"
