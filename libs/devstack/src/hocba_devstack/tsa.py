"""The development time-stamping authority (RFC 3161 over HTTP), for the local stack only.

    POST /  Content-Type: application/timestamp-query, body a DER TimeStampReq
      200 Content-Type: application/timestamp-reply, body a DER TimeStampResp
    GET /health  200

Publishing asks it for the seal's signature time-stamp and the document time-stamp of a PAdES
B-LTA PDF (`HOCBA_PUBLISHING_TSA_URL`). The token is a CMS SignedData over a TSTInfo, signed
with ECDSA P-256 / SHA-256 by the development TSA certificate (hocba_devstack.devpki: issued by
the public-duty CA, extended key usage timeStamping only, critical), with an ESS
signing-certificate-v2 attribute naming it. A request with an unknown hash algorithm, an imprint
of the wrong length or another version is refused with a PKIStatus `rejection` and its failInfo.

Production uses a licensed time-stamping service instead; no service imports this module.

    python -m hocba_devstack.tsa --pki DIR --port PORT
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hocba_trust.cms import SigningIdentity

from hocba_devstack.devpki import DevPKI

QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"
POLICY = "2.25.229366813416130812413416524917346733012"
"""The development TSA's policy (an OID under 2.25, from a UUID): no real policy stands behind it."""
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
MAX_REQUEST = 16 * 1024


class _RefusedResp(core.Sequence):  # type: ignore[misc]
    """A TimeStampResp without its token: asn1crypto's TimeStampResp does not mark the token
    optional (RFC 3161 §2.4.2 does), so it cannot encode a refusal."""

    _fields = [("status", tsp.PKIStatusInfo)]


class TimeStampAuthority:
    """Answers DER TimeStampReqs with DER TimeStampResps signed by `identity` (an EC key)."""

    def __init__(self, identity: SigningIdentity) -> None:
        if not isinstance(identity.key, ec.EllipticCurvePrivateKey):
            raise TypeError("the development TSA signs with an EC key")
        self.key = identity.key
        der = identity.certificate.public_bytes(serialization.Encoding.DER)
        self.certificate = ax509.Certificate.load(der)
        self.chain = [
            ax509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
            for c in identity.chain
        ]
        self._cert_hash = hashlib.sha256(der).digest()
        self._serial = secrets.randbits(62) << 32
        self._lock = threading.Lock()

    def _next_serial(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    @staticmethod
    def _refusal(fail_info: str, text: str) -> bytes:
        status = {
            "status": "rejection",
            "status_string": [text],
            "fail_info": tsp.PKIFailureInfo({fail_info}),
        }
        return bytes(_RefusedResp({"status": status}).dump())

    def respond(self, request_der: bytes, now: datetime | None = None) -> bytes:
        """The TimeStampResp to a DER TimeStampReq (a refusal if it is not one we can stamp)."""
        try:
            request = tsp.TimeStampReq.load(request_der)
            version = request["version"].native
            imprint = request["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = imprint["hashed_message"].native
            nonce = request["nonce"].native
            cert_req = bool(request["cert_req"].native)
            policy = request["req_policy"].native
        except (ValueError, TypeError, KeyError):
            return self._refusal("bad_data_format", "not a DER TimeStampReq")
        if version != "v1":
            return self._refusal("bad_request", "only version 1 requests are answered")
        if algorithm not in DIGEST_SIZES:
            return self._refusal("bad_alg", "the imprint's hash is not SHA-256, -384 or -512")
        if not isinstance(digest, bytes) or len(digest) != DIGEST_SIZES[algorithm]:
            return self._refusal("bad_data_format", "the imprint has the wrong length")
        if policy is not None and policy != POLICY:
            return self._refusal("unaccepted_policy", f"the only policy is {POLICY}")
        at = (now or datetime.now(UTC)).replace(microsecond=0)
        info: dict[str, object] = {
            "version": "v1",
            "policy": POLICY,
            "message_imprint": imprint,
            "serial_number": self._next_serial(),
            "gen_time": at,
            "accuracy": {"seconds": 1},
            "tsa": ax509.GeneralName(name="directory_name", value=self.certificate.subject),
        }
        if nonce is not None:
            info["nonce"] = nonce
        token = self._sign(tsp.TSTInfo(info).dump(), at, cert_req)
        granted = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
        return bytes(granted.dump())

    def _sign(self, tst_info: bytes, at: datetime, include_certificates: bool) -> cms.ContentInfo:
        signed_attrs = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(at)})]},
                {
                    "type": "signing_certificate_v2",
                    "values": [
                        {
                            "certs": [
                                {
                                    "cert_hash": self._cert_hash,
                                    "issuer_serial": {
                                        "issuer": [
                                            ax509.GeneralName(
                                                name="directory_name",
                                                value=self.certificate.issuer,
                                            )
                                        ],
                                        "serial_number": self.certificate.serial_number,
                                    },
                                }
                            ]
                        }
                    ],
                },
                {"type": "message_digest", "values": [hashlib.sha256(tst_info).digest()]},
            ]
        )
        signature = self.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": self.certificate.issuer,
                            "serial_number": self.certificate.serial_number,
                        }
                    }
                ),
                "digest_algorithm": {"algorithm": "sha256"},
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed: dict[str, object] = {
            "version": "v3",
            "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": cms.ParsableOctetString(tst_info),
            },
            "signer_infos": [signer],
        }
        if include_certificates:
            signed["certificates"] = [self.certificate, *self.chain]
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed)})


class _Handler(BaseHTTPRequestHandler):
    authority: TimeStampAuthority
    server_version = "hocba-dev-tsa"
    sys_version = ""

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path == "/health":
            self._answer(200, "text/plain", b"ok\n")
        else:
            self._answer(404, "text/plain", b"POST a timestamp query to /\n")

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        if self.headers.get("Content-Type", "").split(";")[0].strip() != QUERY:
            self._answer(415, "text/plain", f"the body must be {QUERY}\n".encode())
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411, "text/plain", b"a Content-Length is needed\n")
            return
        if not 0 < length <= MAX_REQUEST:
            self._answer(413, "text/plain", b"a timestamp query is a few hundred bytes\n")
            return
        self._answer(200, REPLY, self.authority.respond(self.rfile.read(length)))

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        pass


def serve(authority: TimeStampAuthority, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server answering time-stamp queries (call `serve_forever`, or run it in a thread)."""
    handler = type("Handler", (_Handler,), {"authority": authority})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hocba_devstack.tsa", description=__doc__)
    parser.add_argument("--pki", required=True, type=Path, help="the development PKI's directory")
    parser.add_argument("--port", required=True, type=int)
    args = parser.parse_args(argv)
    pki = DevPKI(args.pki)
    pki.create()
    serve(TimeStampAuthority(pki.tsa_identity()), args.port).serve_forever()


if __name__ == "__main__":
    main()
