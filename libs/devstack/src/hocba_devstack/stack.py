"""Start, watch and stop the local stack: tansu, SecantusDB, the development OIDC issuer, the
development time-stamping authority and the five services as processes.

Everything lives under one state directory (`var/` by default): `run/` holds a PID file per
process, `log/` their output and the spans of the local tracer, `data/` SecantusDB's files (kept
across restarts), `pki/` the development PKI, `issuer/` the development issuer's key and clients.
Starting twice reuses what is already running.

A service may run as several replicas (`start_replica`): the same consumer groups, database and
outbox, each with its own HTTP port, PID file and log, named `<service>.<n>`.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from hocba_runtime.kafka import ensure_topics
from hocba_trust.note import Signer

from hocba_devstack import localstack
from hocba_devstack.devpki import DevPKI
from hocba_devstack.issuer import DevIssuer

HSM_TOKEN = "hocba-seals"
SERVICES = ("records", "assessment", "signing", "publishing", "lookup")
DEFAULT_PORTS = {
    "broker": 9092,
    "database": 27017,
    "issuer": 8090,
    "tsa": 8091,
    "records": 8101,
    "assessment": 8102,
    "signing": 8103,
    "publishing": 8104,
    "lookup": 8105,
}


LOOKUP_CLIENT = "hocba-lookup"
LOG_ORIGIN = "hocba.local/publishing"
"""The local stack's transparency log (its checkpoints' first line and its key's name)."""
"""The lookup's OIDC client: it fetches PDFs from publishing with its own token."""
DEMO_SCHOOL_SYSTEMS: dict[str, list[str]] = {
    "demo-school-system": ["079-TH-NBK", "079-TH-LVT", "079-TH-KD"],
    "smoke-check": ["079-TH-SMOKE"],
}
"""The school systems of the local stack and the schools each may write (demo data, smoke check)."""


class StackError(RuntimeError):
    """Something in the stack did not come up; the message says what and where to look."""


@dataclass
class Stack:
    state_dir: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    session_timeout_ms: int = 10_000
    heartbeat_ms: int = 2_000
    database_storage: str | None = None  # default: <state_dir>/data/secantus; ":memory:" allowed
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    school_systems: dict[str, list[str]] = field(default_factory=lambda: dict(DEMO_SCHOOL_SYSTEMS))

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        for sub in ("run", "log", "data", "pki", "hsm", "issuer"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)

    # -- locations -------------------------------------------------------------------------
    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['broker']}"

    @property
    def mongo_uri(self) -> str:
        return localstack.mongo_uri(self.ports["database"])

    @property
    def pki(self) -> DevPKI:
        return DevPKI(self.state_dir / "pki")

    @property
    def issuer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['issuer']}"

    @property
    def tsa_url(self) -> str:
        """The development time-stamping authority (RFC 3161), for publishing's B-LTA seals."""
        return f"http://127.0.0.1:{self.ports['tsa']}/"

    @property
    def issuer(self) -> DevIssuer:
        """The development issuer (its key is in the state directory): tokens for tests and scripts."""
        return DevIssuer(self.state_dir / "issuer", self.issuer_url)

    def token(self, role: str, school_id: str | None = None, staff_id: str | None = None) -> str:
        """An access token for a member of staff, an operator or an auditor."""
        return self.issuer.persona(role, school_id, staff_id)

    def system_token(self, client_id: str) -> str:
        """An access token for a registered school system (client credentials)."""
        issuer = self.issuer
        return issuer.client_token(client_id, issuer.register_client(client_id, ["school_system"]))

    def headers(
        self, role: str, school_id: str | None = None, staff_id: str | None = None
    ) -> dict[str, str]:
        """`Authorization` for a member of staff, an operator or an auditor."""
        return {"authorization": f"Bearer {self.token(role, school_id, staff_id)}"}

    def system_headers(self, client_id: str) -> dict[str, str]:
        """`Authorization` for a school system."""
        return {"authorization": f"Bearer {self.system_token(client_id)}"}

    @property
    def spans_file(self) -> Path:
        return self.state_dir / "log" / "spans.jsonl"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def log_file(self, name: str) -> Path:
        return self.state_dir / "log" / f"{name}.log"

    def _pid_file(self, name: str) -> Path:
        return self.state_dir / "run" / f"{name}.pid"

    # -- processes -------------------------------------------------------------------------
    def pid(self, name: str) -> int | None:
        """The PID recorded for `name`, if that process is still alive and still ours."""
        path = self._pid_file(name)
        if not path.exists():
            return None
        try:
            pid_text, marker = path.read_text().split("\n", 1)
            pid = int(pid_text)
            cmdline = (
                Path(f"/proc/{pid}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
        except (ValueError, OSError):
            return None
        return pid if marker.strip() and marker.strip() in cmdline else None

    def _record(self, name: str, proc: subprocess.Popen[bytes], marker: str) -> None:
        self._pid_file(name).write_text(f"{proc.pid}\n{marker}\n")

    def service_env(self, name: str) -> dict[str, str]:
        prefix = f"HOCBA_{name.upper()}_"
        pki = self.pki
        roots = json.dumps([str(pki.root_file)])
        crls = json.dumps(
            [
                str(pki.crl_file(ca))
                for ca in ("root", "public-duty-ca", "personal-ca")
                if pki.crl_file(ca).exists()
            ]
        )
        env = {
            "ENVIRONMENT": "development",
            "OIDC_ISSUER": self.issuer_url,
            "SCHOOL_SYSTEMS": json.dumps(self.school_systems),
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "MONGO_URI": self.mongo_uri,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.ports[name]),
            "PUBLIC_URL": self.url(name),
            "OTEL_EXPORTER": "jsonl",
            "OTEL_SPANS_FILE": str(self.spans_file),
            "CONSUMER_SESSION_TIMEOUT_MS": str(self.session_timeout_ms),
            "CONSUMER_HEARTBEAT_INTERVAL_MS": str(self.heartbeat_ms),
        }
        if name == "signing":
            env |= {
                "PKI_DIR": str(pki.dir),
                "SERVER_SIDE_SIGNING": "true",
                "DEV_ISSUE_ON_DEMAND": "true",
                "DEV_CA_URL": self.issuer_url,
                "TRUST_ROOTS": roots,
                "CRL_FILES": crls,
                "SCHOOL_SEAL": "true",
                "PKCS11_TOKEN_LABEL": HSM_TOKEN,
                "PKCS11_PIN": self._hsm_pin(),
                "SEAL_ISSUE_ON_DEMAND": "true",
            }
        if name == "publishing":
            env |= {
                "TRUST_ROOTS": roots,
                "CRL_FILES": crls,
                "LOOKUP_PUBLIC_URL": self.url("lookup"),
                # each PDF sealed with its school's seal, the one signing keeps in the token
                # (made on demand by the development CA for a school that has none yet)
                "PDF_SEAL": "true",
                "PKCS11_TOKEN_LABEL": HSM_TOKEN,
                "PKCS11_PIN": self._hsm_pin(),
                "PDF_SEAL_CERTIFICATES": str(pki.signers.dir),
                "PDF_SEAL_ISSUE_ON_DEMAND": "true",
                "DEV_CA_URL": self.issuer_url,
                "TSA_URL": self.tsa_url,
                "DOCUMENT_ID_SECRET": self._secret("document-id-secret"),
                "LOG_ORIGIN": LOG_ORIGIN,
                "LOG_SIGNING_KEY": self.log_signer().key(),
            }
        if name == "lookup":
            env |= {
                "TRUST_ROOTS": roots,
                "CRL_FILES": crls,
                "PUBLISHING_URL": self.url("publishing"),
                # the log's public key, which the verification page checks inclusion proofs under
                "LOG_KEY": self.log_signer().verifier().key(),
                "LOOKUP_SECRET": self._secret("lookup-secret"),
                "OIDC_CLIENT_ID": LOOKUP_CLIENT,
                "OIDC_CLIENT_SECRET": self.issuer.register_client(LOOKUP_CLIENT, ["service"]),
            }
        env |= self.extra_env.get(name, {})
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SOFTHSM2_CONF": str(self.state_dir / "hsm" / "softhsm2.conf"),
            **{prefix + k: v for k, v in env.items()},
        }

    def _hsm_pin(self) -> str:
        path = self.state_dir / "hsm" / "pin"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(8))
            path.chmod(0o600)
        return path.read_text().strip()

    def init_hsm(self) -> None:
        """A SoftHSM2 token for the schools' seals (keys generated inside it, never on disk in clear)."""
        hsm = self.state_dir / "hsm"
        (hsm / "tokens").mkdir(parents=True, exist_ok=True)
        conf = hsm / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {hsm / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
        env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
        slots = subprocess.run(
            ["softhsm2-util", "--show-slots"], capture_output=True, text=True, env=env
        ).stdout
        if f"Label:            {HSM_TOKEN}" not in slots:
            subprocess.run(
                [
                    "softhsm2-util",
                    "--init-token",
                    "--free",
                    "--label",
                    HSM_TOKEN,
                    "--so-pin",
                    secrets.token_hex(8),
                    "--pin",
                    self._hsm_pin(),
                ],
                check=True,
                capture_output=True,
                env=env,
            )

    def log_signer(self) -> Signer:
        """The local transparency log's checkpoint key, kept in the state directory, with its
        verifier key beside it (log-key.pub) for the offline verifier to pin."""
        path = self.state_dir / "log-signing-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Signer.generate(LOG_ORIGIN).key())
            path.chmod(0o600)
        signer = Signer.from_key(path.read_text().strip())
        (self.state_dir / "log-key.pub").write_text(signer.verifier().key() + "\n")
        return signer

    def _secret(self, name: str) -> str:
        """A random secret of the local stack, kept in the state directory."""
        path = self.state_dir / name
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        return path.read_text().strip()

    def start_infra(self) -> None:
        self.create_pki()  # before the issuer, which serves its CA
        if self.pid("broker") is None:
            proc = localstack.start_broker(self.ports["broker"], self.log_file("broker"))
            self._record("broker", proc, f"--listener-url tcp://127.0.0.1:{self.ports['broker']}")
        if self.pid("database") is None:
            storage = self.database_storage or str(self.state_dir / "data" / "secantus")
            proc = localstack.start_database(
                self.ports["database"], storage, self.log_file("database")
            )
            self._record("database", proc, f"--port {self.ports['database']}")
        if self.pid("issuer") is None:
            self.start_issuer()
        if self.pid("tsa") is None:
            self.start_tsa()
        asyncio.run(ensure_topics(self.kafka_bootstrap))
        self.init_hsm()

    def create_pki(self) -> None:
        """The development PKI (kept if it exists) and its time-stamping authority's certificate;
        the issuer process serves its CA to signing and publishing (devca), which certifies the
        schools' seals."""
        pki = self.pki
        pki.create()
        pki.refresh_crls()
        pki.tsa_identity()

    def start_tsa(self) -> None:
        """The development time-stamping authority (hocba_devstack.tsa), on loopback."""
        out = open(self.log_file("tsa"), "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hocba_devstack.tsa",
                "--pki",
                str(self.pki.dir),
                "--port",
                str(self.ports["tsa"]),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self._record("tsa", proc, "-m hocba_devstack.tsa")
        localstack.wait_for_port("127.0.0.1", self.ports["tsa"], proc=proc)

    def start_issuer(self) -> None:
        """The development OIDC issuer, and the clients of the local stack registered with it."""
        issuer = self.issuer
        for system in self.school_systems:
            issuer.register_client(system, ["school_system"])
        issuer.register_client(LOOKUP_CLIENT, ["service"])
        out = open(self.log_file("issuer"), "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hocba_devstack.issuer",
                "--state",
                str(self.state_dir / "issuer"),
                "--port",
                str(self.ports["issuer"]),
                "--pki",
                str(self.pki.dir),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self._record("issuer", proc, "-m hocba_devstack.issuer")
        localstack.wait_for_port("127.0.0.1", self.ports["issuer"], proc=proc)

    def start_service(self, name: str) -> int:
        return self._start(name, name, self.service_env(name))

    def start_replica(self, name: str, index: int) -> str:
        """Replica `index` (2, 3, ...) of a service, beside the first: Kafka shares the topics'
        partitions among a group's members, and one replica's relay publishes the outbox at a
        time. Returns the replica's name, for `pid`, `url`, `wait_ready` and the log."""
        replica = f"{name}.{index}"
        self.ports.setdefault(replica, localstack.free_port())
        prefix = f"HOCBA_{name.upper()}_"
        self._start(
            replica,
            name,
            self.service_env(name)
            | {
                prefix + "HTTP_PORT": str(self.ports[replica]),
                prefix + "PUBLIC_URL": self.url(replica),
            },
        )
        return replica

    def replicas(self, name: str) -> list[str]:
        """The replicas of a service started beside the first, by name."""
        return sorted(p.stem for p in (self.state_dir / "run").glob(f"{name}.*.pid"))

    def _service_processes(self) -> list[str]:
        """Every service's process names in start order: the service, then its replicas."""
        return [p for s in SERVICES for p in (s, *self.replicas(s))]

    def _start(self, process: str, name: str, env: dict[str, str]) -> int:
        pid = self.pid(process)
        if pid is not None:
            return pid
        marker = f"-m hocba_{name}"
        out = open(self.log_file(process), "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [sys.executable, "-m", f"hocba_{name}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        out.close()
        self._record(process, proc, marker)
        return proc.pid

    def wait_ready(self, names: tuple[str, ...] = SERVICES, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(names)
        with httpx.Client(timeout=3) as client:
            while pending:
                for name in list(pending):
                    if self.pid(name) is None:
                        raise StackError(
                            f"{name} stopped while starting; see {self.log_file(name)}:\n"
                            + self.tail(name)
                        )
                    try:
                        if client.get(self.url(name) + "/health/ready").status_code == 200:
                            pending.remove(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise StackError(
                        f"not ready after {timeout:.0f}s: {', '.join(pending)}; see {self.state_dir / 'log'}"
                    )
                if pending:
                    time.sleep(0.3)

    def tail(self, name: str, lines: int = 20) -> str:
        path = self.log_file(name)
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def up(self, services: tuple[str, ...] = SERVICES) -> None:
        self.start_infra()
        for name in services:
            self.start_service(name)
        self.wait_ready(services)

    def kill(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> bool:
        """Stop one process group by its recorded PID; SIGKILL if it does not exit in time."""
        pid = self.pid(name)
        if pid is None:
            self._pid_file(name).unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self._pid_file(name).unlink(missing_ok=True)
        return True

    def stop(self) -> list[str]:
        stopped = []
        for name in (*reversed(self._service_processes()), "tsa", "issuer", "database", "broker"):
            if self.kill(name):
                stopped.append(name)
        return stopped

    def status(self) -> dict[str, int | None]:
        return {
            name: self.pid(name)
            for name in ("broker", "database", "issuer", "tsa", *self._service_processes())
        }


def _alive(pid: int) -> bool:
    try:
        # A zombie (exited, not yet reaped by its parent) counts as gone.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        return False
    return True
