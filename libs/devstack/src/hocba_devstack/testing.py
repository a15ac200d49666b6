"""Pytest fixtures: the real local broker and database, started once per test session.

Used through `pytest_plugins = ["hocba_devstack.testing"]` in the root conftest.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hocba_contracts import Envelope
from hocba_runtime.kafka import ensure_topics
from hocba_runtime.mongo import Mongo
from hocba_runtime.outbox import Outbox

from hocba_devstack import localstack
from hocba_devstack.devpki import DevPKI
from hocba_devstack.issuer import DevIssuer

TEST_SCHOOL_SYSTEM = "test-school-system"
"""The school system of the tests: registered for every school."""
OTHER_SCHOOL_SYSTEM = "other-school-system"
"""Another school system, registered only for schools whose ids start with OTHER-."""
TEST_SCHOOL_SYSTEMS = {TEST_SCHOOL_SYSTEM: ["*"], OTHER_SCHOOL_SYSTEM: ["OTHER-*"]}


@dataclass
class LocalInfra:
    kafka_bootstrap: str
    mongo_uri: str
    workdir: Path
    issuer: DevIssuer
    """The development OIDC issuer, serving its keys on loopback."""
    pki: DevPKI
    """The development PKI whose CA the issuer process serves (hocba_devstack.devca)."""

    @property
    def dev_ca_url(self) -> str:
        """Where services with on-demand issuance (development) have keys certified by `pki`."""
        return self.issuer.url

    def settings(self, **extra: Any) -> dict[str, Any]:
        """A service's settings in a test, as keyword arguments: this broker, database and issuer,
        the test school systems, consumers that rejoin their group quickly, retries that hardly
        wait; then `extra`."""
        return {
            "environment": "development",
            "kafka_bootstrap": self.kafka_bootstrap,
            "mongo_uri": self.mongo_uri,
            "oidc_issuer": self.issuer.url,
            "school_systems": TEST_SCHOOL_SYSTEMS,
            "consumer_session_timeout_ms": 6000,
            "consumer_heartbeat_interval_ms": 1000,
            "retry_backoff_seconds": 0.01,
            "audit_chain_seconds": 0.1,
            "pdf_render_processes": 1,  # publishing renders in a thread, not a pool per test
            **extra,
        }

    def headers(
        self, role: str, school_id: str | None = None, staff_id: str | None = None
    ) -> dict[str, str]:
        """`Authorization` for a member of staff (teacher, principal, school_admin), an operator,
        an auditor or a service."""
        roles = [role]
        token = self.issuer.token(
            roles=roles,
            school_id=school_id,
            staff_id=staff_id,
            client_id="hocba-lookup" if role == "service" else "hocba-dev-portal",
        )
        return {"authorization": f"Bearer {token}"}

    def system_headers(self, client_id: str = TEST_SCHOOL_SYSTEM) -> dict[str, str]:
        """`Authorization` for a school system (its client id names it, as `source` does on Kafka)."""
        token = self.issuer.token(
            roles=["school_system"], client_id=client_id, subject=f"service-account-{client_id}"
        )
        return {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def local_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfra]:
    workdir = tmp_path_factory.mktemp("infra")
    kport, mport = localstack.free_port(), localstack.free_port()
    broker = localstack.start_broker(kport, workdir / "tansu.log")
    db = localstack.start_database(mport, str(workdir / "mongo"), workdir / "secantus.log")
    pki = DevPKI(workdir / "pki")
    pki.create()
    issuer, issuer_proc = _start_issuer(workdir / "issuer", pki)
    bootstrap = f"127.0.0.1:{kport}"
    asyncio.run(ensure_topics(bootstrap))
    try:
        yield LocalInfra(bootstrap, localstack.mongo_uri(mport), workdir, issuer, pki)
    finally:
        for proc in (broker, db, issuer_proc):
            proc.terminate()
        for proc in (broker, db, issuer_proc):
            try:
                proc.wait(10)
            except Exception:
                proc.kill()


def _start_issuer(state: Path, pki: DevPKI) -> tuple[DevIssuer, subprocess.Popen[bytes]]:
    port = localstack.free_port()
    issuer = DevIssuer(state, f"http://127.0.0.1:{port}")
    out = open(state / "issuer.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hocba_devstack.issuer",
            "--state",
            str(state),
            "--port",
            str(port),
            "--pki",
            str(pki.dir),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    localstack.wait_for_port("127.0.0.1", port, proc=proc)
    return issuer, proc


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unique_db() -> Callable[[str], str]:
    return lambda name: f"t_{name}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=["fake", "mongo"])
def contract_backend(request: pytest.FixtureRequest) -> LocalInfra | None:
    """Runs a contract suite twice: against a port's fake (None) and against its MongoDB adapter
    (the local infrastructure, started only then). A sync fixture, because `local_infra` starts its
    servers with `asyncio.run`, which cannot run inside an async fixture's loop."""
    if request.param == "fake":
        return None
    infra: LocalInfra = request.getfixturevalue("local_infra")
    return infra


@asynccontextmanager
async def scratch_database(infra: LocalInfra, name: str) -> AsyncIterator[tuple[Mongo, Outbox]]:
    """A database of its own on the local server with an outbox, as a service's unit of work
    writes them; dropped afterwards. For tests of one adapter (a contract suite's MongoDB side)."""
    mongo = Mongo(infra.mongo_uri, f"t_{name}_{uuid.uuid4().hex[:8]}")
    outbox = Outbox(mongo)
    await outbox.ensure_indexes()
    try:
        yield mongo, outbox
    finally:
        await mongo.client.drop_database(mongo.db.name)
        mongo.close()


async def outbox_event_ids(outbox: Outbox) -> list[str]:
    """The ids of the events committed to `outbox` and not relayed yet, in the relay's order."""
    cursor = outbox.mongo.db[outbox.collection].find({}, {"_id": 1}).sort(outbox.order)
    return [str(d["_id"]) async for d in cursor]


async def produce(
    bootstrap: str,
    topic: str,
    envelopes: list[Envelope[Any]] | list[bytes],
    key: bytes | None = None,
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for item in envelopes:
            if isinstance(item, bytes):
                await producer.send_and_wait(topic, item, key=key or b"raw")
            else:
                await producer.send_and_wait(
                    topic, item.model_dump_json().encode(), key=item.subject.encode()
                )
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, *, until: Callable[[list[Any]], bool], timeout: float = 30.0
) -> list[Any]:
    """Read `topic` from the beginning until `until(messages)` holds (raw aiokafka records)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    seen: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not until(seen):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(
                    f"{topic}: condition not met after {timeout}s ({len(seen)} messages)"
                )
            batch = await consumer.getmany(timeout_ms=int(min(left, 0.5) * 1000))
            for records in batch.values():
                seen.extend(records)
        return seen
    finally:
        await consumer.stop()


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Everything on `topic` up to its current end (raw aiokafka records)."""
    from aiokafka import TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = consumer._client.cluster.partitions_for_topic(topic) or set()
        parts = [TopicPartition(topic, p) for p in partitions]
        if not parts:
            return []
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        seen: list[Any] = []
        while any([await consumer.position(tp) < end[tp] for tp in parts]):
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(batch)
        return seen
    finally:
        await consumer.stop()


def payloads(records: list[Any]) -> list[dict[str, Any]]:
    """The envelopes among a topic's records, as JSON. The tests of one run share the broker's
    topics, and a test of dead-lettering puts a record that is no envelope on a service's topic:
    it is not one of the topic's payloads, for any test reading that topic after."""
    out = []
    for record in records:
        try:
            value = json.loads(record.value or b"")
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("data"), dict):
            out.append(value)
    return out


async def eventually(
    check: Callable[[], Any], *, timeout: float = 30.0, interval: float = 0.1
) -> Any:
    """Wait until `await check()` returns something truthy; fail with the last value after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = check()
        if inspect.isawaitable(last):  # a coroutine, or a motor future
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met after {timeout}s; last value: {last!r}")


os.environ.setdefault("HOCBA_TESTING", "1")


# -- the authorization matrix -----------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One request to an endpoint, about a resource of the school the matrix calls 'own'."""

    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Identity:
    """A caller of the matrix: a role, with the school, staff id or client id it has."""

    role: str
    school_id: str | None = None
    staff_id: str | None = None
    client_id: str | None = None

    def headers(self, issuer: Any) -> dict[str, str]:
        if self.role == "school_system":
            token = issuer.token(
                roles=["school_system"],
                client_id=self.client_id,
                subject=f"service-account-{self.client_id}",
            )
        else:
            token = issuer.token(
                roles=[self.role],
                school_id=self.school_id,
                staff_id=self.staff_id,
                client_id=self.client_id or "hocba-dev-portal",
            )
        return {"authorization": f"Bearer {token}"}


@dataclass
class Cell:
    endpoint: str
    caller: str
    expected: str
    status: int

    @property
    def ok(self) -> bool:
        if self.expected == "allowed":
            return self.status not in (401, 403)
        return self.status == int(self.expected)


async def authorization_matrix(
    app: Any,
    policies: Any,
    calls: dict[str, Call],
    own: dict[str, Identity],
    other: dict[str, Identity],
    issuer: Any,
) -> list[Cell]:
    """Call every endpoint of `app` (from its route table) as every role of its own school, of another
    school, and anonymously, and say what each call was expected to get from the policy table:
    401 anonymous (unless public), 403 for a role the rule does not name and for another school's
    caller where the rule scopes the role, and neither 401 nor 403 otherwise. An endpoint without a
    rule in `policies` or without an example in `calls` is a failed cell, so a new endpoint fails
    the matrix until it has both."""
    from hocba_runtime.auth import Role, Scope

    cells: list[Cell] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://matrix", timeout=60) as http:
        for endpoint in policies.endpoints(app):
            method, path = endpoint.split(" ", 1)
            rule = policies.rule(method, path)
            call = calls.get(endpoint)
            if rule is None or call is None:
                cells.append(Cell(endpoint, "-", "a policy and an example call", -1))
                continue

            async def send(headers: dict[str, str], call: Call = call, method: str = method) -> int:
                response = await http.request(
                    method,
                    call.path,
                    json=call.json,
                    params=call.params,
                    files=call.files,
                    data=call.data,
                    headers=headers,
                )
                return response.status_code

            status = await send({})
            cells.append(Cell(endpoint, "anonymous", "allowed" if rule.public else "401", status))
            if rule.public:
                continue
            for role in Role:
                scope = rule.roles.get(role)
                for variant, identities in (("own school", own), ("other school", other)):
                    identity = identities.get(role.value)
                    if identity is None:
                        continue
                    if scope is None:
                        expected = "403"
                    elif variant == "other school" and scope is not Scope.CITY:
                        expected = "403"
                    else:
                        expected = "allowed"
                    cells.append(
                        Cell(
                            endpoint,
                            f"{role.value} ({variant})",
                            expected,
                            await send(identity.headers(issuer)),
                        )
                    )
    return cells


def failed_cells(cells: list[Cell]) -> str:
    bad = [c for c in cells if not c.ok]
    return "\n".join(
        f"{c.endpoint} as {c.caller}: expected {c.expected}, got {c.status}" for c in bad
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The files the tests attached to the run (the user property `artifact`: the browser tests'
    screenshots), listed at its end, so that CI's log says where to find them."""
    attached: dict[str, list[str]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == "artifact":
                    shots = attached.setdefault(getattr(report, "nodeid", ""), [])
                    if value not in shots:
                        shots.append(value)
    if attached:
        terminalreporter.section("attached to the run")
        for nodeid, files in attached.items():
            terminalreporter.write_line(f"{nodeid}:")
            for path in files:
                terminalreporter.write_line(f"  {path}")
