"""The school's seal signs through a PKCS#11 token (SoftHSM2), against the real broker and database."""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.x509.oid import NameOID

sys.path.insert(0, str(Path(__file__).parents[1]))
from hocba_contracts import make_envelope  # noqa: E402
from hocba_contracts.topics import ASSESSMENT_EVENTS, SIGNING_EVENTS  # noqa: E402
from hocba_devstack.testing import LocalInfra, payloads, produce, read_topic  # noqa: E402
from hocba_signing.bootstrap import build  # noqa: E402
from hocba_signing.config import SigningSettings  # noqa: E402
from hocba_trust.canonical import canonical_bytes  # noqa: E402
from hocba_trust.cms import TrustList, verify_detached  # noqa: E402
from signing_fixtures import SOFTHSM_LIBRARY, TOKEN_PIN, closed_record, softhsm_token  # noqa: E402

pytestmark = pytest.mark.integration


async def test_the_seal_signs_last_with_a_key_that_never_leaves_the_token(
    local_infra: LocalInfra,
    unique_db: Callable[[str], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    label = softhsm_token(str(tmp_path_factory.mktemp("hsm")))
    pki = (
        local_infra.pki
    )  # the CA, served by the development issuer; the service holds none of its files
    keys = tmp_path_factory.mktemp("seal-keys")
    svc = build(
        SigningSettings(
            **local_infra.settings(mongo_database=unique_db("signing")),
            trust_roots=[str(pki.root_file)],
            server_side_signing=True,
            dev_issue_on_demand=True,
            pki_dir=str(keys),
            dev_ca_url=local_infra.dev_ca_url,
            school_seal=True,
            pkcs11_library=SOFTHSM_LIBRARY,
            pkcs11_token_label=label,
            pkcs11_pin=TOKEN_PIN,
            seal_issue_on_demand=True,
        )
    )
    await svc.runtime.start()
    try:
        record = closed_record()
        await produce(
            local_infra.kafka_bootstrap,
            ASSESSMENT_EVENTS.name,
            [make_envelope(record, source="hocba/assessment")],
        )

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
        assert signed["version"] == 2
        roles = [s["role"] for s in signed["data"]["signatures"]]
        assert roles == ["homeroom_teacher", "principal", "school_seal"]
        seal = signed["data"]["signatures"][2]
        assert seal["signer_id"] == record.school.school_id
        verified = verify_detached(
            canonical_bytes(signed["data"]["document"]),
            base64.b64decode(seal["cms"]),
            TrustList.from_pem_files([str(pki.root_file)]),
        )
        org = verified.certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[
            0
        ].value
        issuer = verified.certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        assert org == record.school.name and "Public-Duty" in issuer
        assert (keys / "signers" / f"{record.school.school_id}.pem").exists(), (
            "the seal's certificate is kept"
        )
        assert not (keys / "signers" / f"{record.school.school_id}.key.pem").exists(), (
            "no key file on disk"
        )
    finally:
        await svc.runtime.stop()
    lib = pkcs11.lib(SOFTHSM_LIBRARY)
    with lib.get_token(token_label=label).open() as session:  # the process is logged in already
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=record.school.school_id)
        assert key[Attribute.EXTRACTABLE] is False and key[Attribute.SENSITIVE] is True
