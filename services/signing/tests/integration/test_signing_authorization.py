"""Who may call the signing API, endpoint by endpoint, as the policy table says (the matrix is
generated from the app's route table: an endpoint without a policy or an example fails it), and
the rules behind it: a teacher signs only what is addressed to them, in their own name; principal
and school administrator act for their own school."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
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
    unique,
)
from hocba_signing.bootstrap import Signing, build  # noqa: E402
from hocba_signing.config import SigningSettings  # noqa: E402
from hocba_signing.domain.model import SigningRequest  # noqa: E402
from hocba_signing.entrypoints.policies import POLICIES  # noqa: E402
from hocba_trust.canonical import canonical_bytes  # noqa: E402
from hocba_trust.cms import sign_detached  # noqa: E402
from signing_fixtures import closed_record  # noqa: E402

log = logging.getLogger(__name__)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("authz-pki"))
    p.create()
    return p


@pytest.fixture
async def signing(
    local_infra: LocalInfra, unique_db: Callable[[str], str], pki: DevPKI
) -> AsyncIterator[Signing]:
    svc = build(
        SigningSettings(
            **local_infra.settings(mongo_database=unique_db("signing")),
            trust_roots=[str(pki.root_file)],
            pki_dir=str(pki.dir),
        )
    )
    await svc.runtime.start()
    yield svc
    await svc.runtime.stop()


@dataclass
class School:
    """A school of the tests: its id, its principal, its administrator and two teachers."""

    school_id: str

    @property
    def principal(self) -> str:
        return f"{self.school_id}-HT"

    @property
    def admin(self) -> str:
        return f"{self.school_id}-QT"

    @property
    def teacher(self) -> str:
        return f"{self.school_id}-GV1"

    @property
    def colleague(self) -> str:
        return f"{self.school_id}-GV2"


async def _open(svc: Signing, school: School, teacher: str | None = None) -> SigningRequest:
    record = closed_record(
        teacher_id=teacher or school.teacher,
        principal_id=school.principal,
        school_id=school.school_id,
    )
    request = await svc.service.open_request(record)
    assert request is not None
    return request


def _sign(pki: DevPKI, staff_id: str, content: bytes) -> str:
    return base64.b64encode(
        sign_detached(content, pki.issue(staff_id, "Vũ Đức Thắng", save=False))
    ).decode()


@pytest.mark.parametrize("signer", ["teacher", "principal"])
async def test_every_endpoint_answers_each_role_of_the_own_school_another_school_and_nobody_as_its_policy_says(
    signing: Signing, local_infra: LocalInfra, pki: DevPKI, signer: str
) -> None:
    """Run once with the teacher as the signer the paths name, once with the principal: a signer's
    paths name one staff member, and both roles reach them only for themselves."""
    a, b = School(unique("SG-A")), School(unique("SG-B"))
    unsigned = await _open(signing, a)
    teacher_signed = await _open(signing, a)
    await signing.service.submit_signature(
        teacher_signed.record_id,
        1,
        "homeroom_teacher",
        a.teacher,
        _sign(pki, a.teacher, canonical_bytes(teacher_signed.document)),
    )
    to_refuse = await _open(signing, a)
    await _open(signing, a, teacher=a.colleague)  # what the handover moves
    me, role = (
        (a.teacher, "homeroom_teacher") if signer == "teacher" else (a.principal, "principal")
    )
    batch = await signing.service.prepare_batch(me, role, school_id=a.school_id)
    request = f"/requests/{unsigned.record_id}/versions/1"
    calls = {
        "GET /health/live": Call("/health/live"),
        "GET /health/ready": Call("/health/ready"),
        "GET /openapi.json": Call("/openapi.json"),
        "GET /docs": Call("/docs"),
        "GET /docs/oauth2-redirect": Call("/docs/oauth2-redirect"),
        "GET /audit/trail": Call("/audit/trail", params={"school_id": a.school_id}),
        "GET /signers/{staff_id}/pending": Call(f"/signers/{me}/pending"),
        "GET /requests/{record_id}/versions/{version}": Call(request),
        "POST /requests/{record_id}/versions/{version}/signatures": Call(
            f"{request}/signatures", json={"role": role, "cms": "AAAA"}
        ),
        "POST /requests/{record_id}/versions/{version}/rejection": Call(
            f"/requests/{to_refuse.record_id}/versions/1/rejection",
            json={"role": role, "reason": "Sai điểm Toán"},
        ),
        "POST /signers/{staff_id}/batches": Call(f"/signers/{me}/batches", json={"role": role}),
        "GET /batches/{batch_id}": Call(f"/batches/{batch.batch_id}"),
        "POST /batches/{batch_id}/signature": Call(
            f"/batches/{batch.batch_id}/signature", json={"cms": "AAAA"}
        ),
        "POST /signers/{staff_id}/handover": Call(
            f"/signers/{a.colleague}/handover",
            json={
                "substitute_id": f"{a.school_id}-GV3",
                "substitute_name": "Ngô Thị Mai",
                "reason": "nghỉ thai sản",
            },
        ),
    }
    city = {
        "operator": Identity("operator"),
        "auditor": Identity("auditor"),
        "service": Identity("service", client_id="hocba-lookup"),
    }
    own = {
        "school_system": Identity("school_system", client_id=TEST_SCHOOL_SYSTEM),
        signer: Identity(signer, a.school_id, me),
        "school_admin": Identity("school_admin", a.school_id, a.admin),
        **city,
    }
    other = {
        "school_system": Identity("school_system", client_id=OTHER_SCHOOL_SYSTEM),
        "teacher": Identity("teacher", b.school_id, b.teacher),
        "principal": Identity("principal", b.school_id, b.principal),
        "school_admin": Identity("school_admin", b.school_id, b.admin),
    }
    cells = await authorization_matrix(signing.app, POLICIES, calls, own, other, local_infra.issuer)
    assert not failed_cells(cells), failed_cells(cells)
    assert len({c.endpoint for c in cells}) == len(POLICIES.endpoints(signing.app))
    log.info(
        f"signing authorization matrix ({signer} signs): {len(cells)} calls over {len(calls)} endpoints"
    )


async def test_a_teacher_reaches_only_what_is_addressed_to_them_and_signs_only_in_their_own_name(
    signing: Signing, local_infra: LocalInfra, pki: DevPKI
) -> None:
    a, b = School(unique("SG-A")), School(unique("SG-B"))
    request = await _open(signing, a)
    batch = await signing.service.prepare_batch(
        a.teacher, "homeroom_teacher", school_id=a.school_id
    )
    content = canonical_bytes(request.document)
    base = f"/requests/{request.record_id}/versions/1"
    colleague = local_infra.headers(
        "teacher", a.school_id, a.colleague
    )  # same school, not a signer of it
    stranger = local_infra.headers("teacher", b.school_id, b.teacher)
    teacher = local_infra.headers("teacher", a.school_id, a.teacher)
    principal = local_infra.headers("principal", a.school_id, a.principal)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=signing.app), base_url="http://s"
    ) as http:
        mine_only, other_school = "not addressed to you", "another school"
        for headers, refusals in (
            (colleague, [mine_only] * 7),
            (stranger, [other_school] * 3 + [mine_only] * 2 + [other_school] * 2),
        ):
            answers = [
                await http.get(base, headers=headers),
                await http.post(
                    f"{base}/signatures",
                    headers=headers,
                    json={"role": "homeroom_teacher", "cms": _sign(pki, a.colleague, content)},
                ),
                await http.post(
                    f"{base}/rejection",
                    headers=headers,
                    json={"role": "homeroom_teacher", "reason": "Sai họ tên"},
                ),
                await http.get(f"/signers/{a.teacher}/pending", headers=headers),
                await http.post(
                    f"/signers/{a.teacher}/batches",
                    headers=headers,
                    json={"role": "homeroom_teacher"},
                ),
                await http.get(f"/batches/{batch.batch_id}", headers=headers),
                await http.post(
                    f"/batches/{batch.batch_id}/signature", headers=headers, json={"cms": "AAAA"}
                ),
            ]
            assert [r.status_code for r in answers] == [403] * len(answers)
            assert [
                next(m for m in (mine_only, other_school) if m in r.json()["error"]["message"])
                for r in answers
            ] == refusals
            assert all(
                request.student_id not in r.text and request.record_id not in r.text
                for r in answers
            )
        for method, path in (
            ("GET", base),
            ("POST", f"{base}/signatures"),
            ("GET", f"/batches/{batch.batch_id}"),
            ("GET", f"/signers/{a.teacher}/pending"),
        ):
            anonymous = await http.request(
                method, path, json={"role": "homeroom_teacher", "cms": "AAAA"}
            )
            assert anonymous.status_code == 401 and anonymous.headers[
                "www-authenticate"
            ].startswith("Bearer")

        # Nobody signs or refuses in someone else's name, not even the next signer.
        in_their_name = await http.post(
            f"{base}/signatures",
            headers=principal,
            json={
                "role": "homeroom_teacher",
                "signer_id": a.teacher,
                "cms": _sign(pki, a.teacher, content),
            },
        )
        assert (
            in_their_name.status_code == 403
            and a.principal in in_their_name.json()["error"]["message"]
        )
        refused_for_them = await http.post(
            f"{base}/rejection",
            headers=teacher,
            json={"role": "principal", "signer_id": a.principal, "reason": "Sai điểm"},
        )
        assert refused_for_them.status_code == 403
        assert (await http.get(base, headers=teacher)).json()["signatures"] == []

        # The principal is addressed too, so sees the request, but it is not yet their turn (the domain's rule).
        assert (await http.get(base, headers=principal)).json()["next_signer"][
            "signer_id"
        ] == a.teacher
        early = await http.post(
            f"{base}/signatures",
            headers=principal,
            json={"role": "principal", "cms": _sign(pki, a.principal, content)},
        )
        assert early.status_code == 409 and early.json()["error"]["code"] == "out_of_order"

        # The teacher signs in their own name without repeating it; the request moves on.
        mine = await http.post(
            f"{base}/signatures",
            headers=teacher,
            json={"role": "homeroom_teacher", "cms": _sign(pki, a.teacher, content)},
        )
        assert mine.status_code == 200, mine.text
        assert [s["signer_id"] for s in mine.json()["signatures"]] == [a.teacher]
        assert mine.json()["next_signer"]["signer_id"] == a.principal

        unknown = await http.get(f"/requests/{request.record_id}/versions/9", headers=teacher)
        assert (
            unknown.status_code == 404
            and "check the record id and version" in unknown.json()["error"]["message"]
        )
        no_batch = await http.get("/batches/B-0000", headers=teacher)
        assert (
            no_batch.status_code == 404
            and "check the batch id" in no_batch.json()["error"]["message"]
        )
        system = await http.get(base, headers=local_infra.system_headers())
        assert system.status_code == 403

    # Every read of the content (the student's personal data) is in the audit trail, refusals too.
    expected = {(a.colleague, 403), (b.teacher, 403), (a.teacher, 200), (a.principal, 200)}

    async def reads_audited() -> bool:
        entries = await signing.runtime.audit.export(student_id=request.student_id)
        return {
            (e["actor"]["id"], e["outcome"])
            for e in entries
            if e["action"] == "GET /requests/{record_id}/versions/{version}"
        } >= expected

    await eventually(reads_audited, timeout=30)


async def test_pending_lists_batches_and_handovers_stay_within_the_callers_school(
    signing: Signing, local_infra: LocalInfra
) -> None:
    """A teacher who teaches at two schools (the same staff id named by both) sees, batches and is
    handed over per school; a school administrator reaches only staff of their own school."""
    a, c = School(unique("SG-A")), School(unique("SG-C"))
    shared = f"{a.school_id}-GVX"
    here = [await _open(signing, a, teacher=shared) for _ in range(2)]
    there = [await _open(signing, c, teacher=shared) for _ in range(3)]
    as_a = local_infra.headers("teacher", a.school_id, shared)
    admin_a = local_infra.headers("school_admin", a.school_id, a.admin)
    admin_c = local_infra.headers("school_admin", c.school_id, c.admin)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=signing.app), base_url="http://s"
    ) as http:
        listed = (await http.get(f"/signers/{shared}/pending", headers=as_a)).json()
        assert sorted(p["record_id"] for p in listed) == sorted(r.record_id for r in here)
        by_admin = (await http.get(f"/signers/{shared}/pending", headers=admin_a)).json()
        assert by_admin == listed
        batch = await http.post(
            f"/signers/{shared}/batches", headers=as_a, json={"role": "homeroom_teacher"}
        )
        assert batch.status_code == 200 and batch.json()["documents"] == len(here)

        other_school_staff = await http.get(f"/signers/{c.teacher}/pending", headers=admin_a)
        assert other_school_staff.status_code == 404  # no request names them
        await _open(signing, c)
        other_school_staff = await http.get(f"/signers/{c.teacher}/pending", headers=admin_a)
        assert other_school_staff.status_code == 403
        assert "another school" in other_school_staff.json()["error"]["message"]

        someone_else = await http.post(
            f"/signers/{shared}/handover",
            headers=admin_c,
            json={
                "substitute_id": f"{c.school_id}-GV9",
                "substitute_name": "Ngô Thị Mai",
                "reason": "chuyển trường",
                "decided_by": a.admin,
            },
        )
        assert someone_else.status_code == 403  # an administrator decides in their own name
        moved = await http.post(
            f"/signers/{shared}/handover",
            headers=admin_c,
            json={
                "substitute_id": f"{c.school_id}-GV9",
                "substitute_name": "Ngô Thị Mai",
                "reason": "chuyển trường",
            },
        )
        assert moved.status_code == 200 and moved.json()["requests"] == len(there)
        assert sorted(
            p["record_id"]
            for p in (await http.get(f"/signers/{shared}/pending", headers=as_a)).json()
        ) == sorted(r.record_id for r in here)
        substitute = local_infra.headers("teacher", c.school_id, f"{c.school_id}-GV9")
        history = (
            await http.get(f"/requests/{there[0].record_id}/versions/1", headers=substitute)
        ).json()["history"]
        assert history[-1]["action"] == "reassigned" and history[-1]["by"] == c.admin
        assert (
            await http.post(
                f"/signers/{c.school_id}-NOBODY/handover",
                headers=admin_c,
                json={
                    "substitute_id": "X1",
                    "substitute_name": "Ngô Thị Mai",
                    "reason": "nghỉ hưu",
                },
            )
        ).status_code == 404
