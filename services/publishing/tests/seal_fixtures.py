"""The schools' seals for the publishing tests: a SoftHSM2 token, a development PKI, the
development time-stamping authority in a thread, an NSS database for pdfsig."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hocba_devstack.devpki import DevPKI
from hocba_devstack.localstack import free_port
from hocba_devstack.tsa import TimeStampAuthority, serve
from hocba_publishing.adapters.pkcs11_seal import TokenSeals
from hocba_publishing.adapters.render_pool import SealSettings
from hocba_trust.keys import KeyDirectory
from pydantic import SecretStr

SOFTHSM_LIBRARY = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL, TOKEN_PIN = "hocba-test", "246810"
"""Signing's tests' token too: SoftHSM2 reads its configuration once per process, so whichever
test makes the token first decides where it is, and both find it by this label and PIN."""


def softhsm_token(directory: Path) -> str:
    """The test process's SoftHSM2 token (made in `directory` if there is none yet): its label."""
    if "SOFTHSM2_CONF" not in os.environ:
        tokens = directory / "tokens"
        tokens.mkdir(parents=True, exist_ok=True)
        conf = directory / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
        os.environ["SOFTHSM2_CONF"] = str(conf)
    listed = subprocess.run(
        ["softhsm2-util", "--show-slots"], capture_output=True, text=True
    ).stdout
    if f"Label:            {TOKEN_LABEL}" not in listed:
        subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                TOKEN_LABEL,
                "--so-pin",
                "13579135",
                "--pin",
                TOKEN_PIN,
            ],
            check=True,
            capture_output=True,
        )
    return TOKEN_LABEL


def provision_seal(pki: DevPKI, certificates: Path, school_id: str, school_name: str) -> None:
    """A school's seal as signing leaves it: a key generated in the token, certified by the
    development public-duty CA, its certificate and chain in the key directory."""
    seals = TokenSeals(SOFTHSM_LIBRARY, TOKEN_LABEL, TOKEN_PIN, KeyDirectory(certificates), pki)
    try:
        seals.signer(school_id, school_name)
    finally:
        seals.close()


def crl_files(pki: DevPKI) -> tuple[str, ...]:
    return tuple(str(p) for p in sorted((pki.dir / "crl").glob("*.crl.pem")))


def seal_settings(
    pki: DevPKI, certificates: Path, tsa_url: str | None = None, dev_ca_url: str | None = None
) -> SealSettings:
    return SealSettings(
        pkcs11_library=SOFTHSM_LIBRARY,
        token_label=TOKEN_LABEL,
        pin=SecretStr(TOKEN_PIN),
        certificates_dir=str(certificates),
        trust_roots=(str(pki.root_file),),
        crl_files=crl_files(pki),
        tsa_url=tsa_url,
        dev_ca_url=dev_ca_url,
    )


@contextmanager
def running_tsa(pki: DevPKI) -> Iterator[str]:
    """The development TSA on a free loopback port, in a thread: its URL."""
    port = free_port()
    server = serve(TimeStampAuthority(pki.tsa_identity()), port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def nss_database(directory: Path, root_pem: Path) -> str:
    """An NSS database (pdfsig's trust store) trusting only the development root: `sql:DIR`."""
    directory.mkdir(parents=True, exist_ok=True)
    db = f"sql:{directory}"
    subprocess.run(["certutil", "-N", "-d", db, "--empty-password"], check=True)
    subprocess.run(
        ["certutil", "-A", "-d", db, "-n", "hocba-dev-root", "-t", "CT,C,C", "-i", str(root_pem)],
        check=True,
    )
    return db
