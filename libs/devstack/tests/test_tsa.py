"""The development time-stamping authority: over HTTP it answers an RFC 3161 query with a token
that pyHanko validates against the development root (a TSA certificate whose only extended key
usage is timeStamping), echoes the nonce and stamps the imprint it was sent; it refuses what it
cannot stamp, with a PKIStatus and its failInfo."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from asn1crypto import core, tsp
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from hocba_devstack.devpki import DevPKI
from hocba_devstack.localstack import free_port
from hocba_devstack.tsa import POLICY, TimeStampAuthority, serve
from pyhanko.keys import load_certs_from_pemder_data
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko_certvalidator import ValidationContext

pytestmark = pytest.mark.integration


class _Refused(core.Sequence):  # type: ignore[misc]
    _fields = [("status", tsp.PKIStatusInfo)]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> DevPKI:
    p = DevPKI(tmp_path_factory.mktemp("tsa-pki"))
    p.create()
    return p


@pytest.fixture(scope="module")
def tsa_url(pki: DevPKI) -> Iterator[str]:
    import threading

    port = free_port()
    server = serve(TimeStampAuthority(pki.tsa_identity()), port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def context(pki: DevPKI) -> ValidationContext:
    [root] = load_certs_from_pemder_data(pki.root_file.read_bytes())
    return ValidationContext(trust_roots=[root], allow_fetching=False)


def test_the_tsa_certificate_is_for_time_stamping_only_and_kept(pki: DevPKI) -> None:
    identity = pki.tsa_identity()
    eku = identity.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert pki.tsa_identity().certificate == identity.certificate


def test_a_query_over_http_gets_a_token_that_validates_against_the_development_root(
    pki: DevPKI, tsa_url: str
) -> None:
    digest = hashlib.sha256(b"hoc ba so").digest()

    async def stamp_and_validate() -> tuple[object, dict[str, object]]:
        token = await HTTPTimeStamper(tsa_url).async_timestamp(digest, "sha256")
        status = await validate_tst_signed_data(
            token["content"],
            context(pki),
            lambda algorithm: hashlib.new(algorithm, b"hoc ba so").digest(),
        )
        return token, status

    token, status = asyncio.run(stamp_and_validate())
    assert status["valid"] and status["intact"]
    assert isinstance(status["timestamp"], datetime)
    assert abs(status["timestamp"] - datetime.now(UTC)) < timedelta(minutes=1)
    info = token["content"]["encap_content_info"]["content"].parsed  # type: ignore[index]
    assert info["message_imprint"]["hashed_message"].native == digest
    assert info["policy"].dotted == POLICY

    other = hashlib.sha256(b"something else").digest()

    async def wrong_imprint() -> dict[str, object]:
        token = await HTTPTimeStamper(tsa_url).async_timestamp(digest, "sha256")
        status: dict[str, object] = await validate_tst_signed_data(
            token["content"], context(pki), lambda _: other
        )
        return status

    assert not asyncio.run(wrong_imprint())["intact"]


def test_the_nonce_is_echoed_and_certificates_come_only_when_asked(pki: DevPKI) -> None:
    authority = TimeStampAuthority(pki.tsa_identity())
    imprint = {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 32}
    for cert_req in (True, False):
        query = tsp.TimeStampReq(
            {"version": "v1", "message_imprint": imprint, "nonce": 424242, "cert_req": cert_req}
        )
        answer = tsp.TimeStampResp.load(authority.respond(query.dump()))
        assert answer["status"]["status"].native == "granted"
        signed = answer["time_stamp_token"]["content"]
        assert signed["encap_content_info"]["content"].parsed["nonce"].native == 424242
        assert bool(signed["certificates"]) is cert_req


@pytest.mark.parametrize(
    ("query", "fail_info"),
    [
        (b"not a query", "bad_data_format"),
        (
            tsp.TimeStampReq(
                {
                    "version": "v1",
                    "message_imprint": {
                        "hash_algorithm": {"algorithm": "md5"},
                        "hashed_message": b"\x00" * 16,
                    },
                }
            ).dump(),
            "bad_alg",
        ),
        (
            tsp.TimeStampReq(
                {
                    "version": "v1",
                    "message_imprint": {
                        "hash_algorithm": {"algorithm": "sha256"},
                        "hashed_message": b"\x00" * 20,
                    },
                }
            ).dump(),
            "bad_data_format",
        ),
    ],
)
def test_what_it_cannot_stamp_is_refused_with_a_reason(
    pki: DevPKI, query: bytes, fail_info: str
) -> None:
    refused = _Refused.load(TimeStampAuthority(pki.tsa_identity()).respond(query))
    assert refused["status"]["status"].native == "rejection"
    assert refused["status"]["fail_info"].native == {fail_info}


def test_only_timestamp_queries_are_answered(tsa_url: str) -> None:
    assert (
        httpx.post(tsa_url, content=b"{}", headers={"content-type": "application/json"}).status_code
        == 415
    )
    assert httpx.get(tsa_url + "health").status_code == 200


def test_the_stack_starts_the_tsa_and_gives_publishing_its_url(tmp_path: Path) -> None:
    from hocba_devstack.stack import DEFAULT_PORTS, Stack

    stack = Stack(tmp_path / "stack", ports={**DEFAULT_PORTS, "tsa": free_port()})
    env = stack.service_env("publishing")
    assert env["HOCBA_PUBLISHING_TSA_URL"] == stack.tsa_url
    stack.create_pki()
    stack.start_tsa()
    try:
        assert httpx.get(stack.tsa_url + "health").status_code == 200
        assert stack.status()["tsa"] is not None
    finally:
        assert stack.kill("tsa")
