"""CRLs fetched from a distribution point and re-read on a schedule; a bad fetch keeps the last copy."""

from __future__ import annotations

import http.server
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hocba_devstack.devpki import DevPKI
from hocba_trust.canonical import canonical_bytes
from hocba_trust.cms import SignatureInvalid, TrustList, sign_detached, verify_detached
from hocba_trust.crls import CrlRefresher

pytestmark = pytest.mark.integration


async def test_a_revocation_published_at_the_distribution_point_reaches_verification(
    tmp_path: Path,
) -> None:
    pki = DevPKI(tmp_path / "pki")
    pki.create()
    teacher = pki.issue("GV-CRL", "Bùi Thị Hằng", save=False)
    served: dict[str, bytes | int] = {"body": pki.crl_file("personal-ca").read_bytes()}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = served["body"]
            if isinstance(body, int):
                self.send_response(body)
                self.end_headers()
                return
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/personal-ca.crl"
    try:
        trust = TrustList.from_pem_files([str(pki.root_file)])
        refresher = CrlRefresher(trust, [], [url], every_seconds=3600)
        content = canonical_bytes({"x": "Học bạ"})
        signature = sign_detached(content, teacher)
        assert await refresher.refresh() == 1
        verify_detached(content, signature, trust)

        served["body"] = pki.write_crl(
            "personal-ca",
            [(teacher.certificate.serial_number, datetime.now(UTC) - timedelta(hours=1))],
        ).read_bytes()
        await refresher.refresh()
        with pytest.raises(SignatureInvalid) as refused:
            verify_detached(content, signature, trust)
        assert refused.value.reason == "revoked"

        served["body"] = 503  # the distribution point is down: the last good CRL stays in force
        assert await refresher.refresh() == 1
        with pytest.raises(SignatureInvalid):
            verify_detached(content, signature, trust)

        other = DevPKI(tmp_path / "forger")
        other.create()
        forged = other.write_crl("personal-ca", []).read_bytes()  # same CA name, wrong key
        served["body"] = forged
        await refresher.refresh()
        with pytest.raises(SignatureInvalid):  # a forged, empty CRL does not lift the revocation
            verify_detached(content, signature, trust)
    finally:
        server.shutdown()
