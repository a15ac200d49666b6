"""`python -m hocba_devstack up|demo|run|smoke|stop|status|token|lookup-rebuild`: the local stack
behind `make run`, `make smoke`, `make stop`, `make token` and `make lookup-rebuild`.

Ports and the state directory come from the environment (HOCBA_STACK_DIR, default ./var;
HOCBA_PORT_<NAME>, e.g. HOCBA_PORT_LOOKUP=9105), so a second stack can run beside the first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from hocba_devstack import client, demo
from hocba_devstack.smoke import SMOKE_SCHOOL, main_smoke
from hocba_devstack.stack import DEFAULT_PORTS, SERVICES, Stack, StackError


def stack_from_env() -> Stack:
    ports = {
        name: int(os.environ.get(f"HOCBA_PORT_{name.upper()}", port))
        for name, port in DEFAULT_PORTS.items()
    }
    return Stack(Path(os.environ.get("HOCBA_STACK_DIR", "var")), ports)


DEMO_PARENTS = 3
"""How many demo students get an access code at `make run` (the school issues the rest)."""


def issue_demo_codes(stack: Stack, data: demo.DemoData) -> list[tuple[demo.DemoStudent, str]]:
    """The school administrator of each picked demo student's school issues their access code, as a
    school prints a notice for each parent (synthetic students only)."""
    import httpx

    picks = sorted({0, len(data.students) // 2, len(data.students) - 1})[:DEMO_PARENTS]

    async def issue() -> list[tuple[demo.DemoStudent, str]]:
        out = []
        async with httpx.AsyncClient(timeout=30) as http:
            for s in (data.students[i] for i in picks):
                headers = stack.headers("school_admin", s.school_id, f"{s.school_id}-QT")
                code = await client.issue_code(http, stack.url("lookup"), s.student_id, headers)
                out.append((s, code))
        return out

    return asyncio.run(issue())


def load_demo(stack: Stack, timeout: float) -> demo.DemoData:
    data = demo.build()
    started = time.monotonic()
    print(
        f"demo data: {len(demo.SCHOOLS)} schools, {len(demo.SCHOOLS) * len(demo.CLASSES)} classes, "
        f"{len(data.students)} students, {len(data.assessments)} assessment events"
    )
    asyncio.run(client.publish(stack.kafka_bootstrap, demo.TOPIC_OF["records"], data.records))
    asyncio.run(
        client.publish(stack.kafka_bootstrap, demo.TOPIC_OF["assessments"], data.assessments)
    )

    last = [-1]

    def progress(done: int, total: int) -> None:
        if done != last[0]:
            print(
                f"  {done}/{total} records published and verified in the lookup "
                f"({time.monotonic() - started:.0f}s)",
                flush=True,
            )
            last[0] = done

    people = [(s.citizen_id, s.date_of_birth) for s in data.students]
    asyncio.run(
        client.wait_verified(
            stack.url("lookup"),
            people,
            timeout=timeout,
            progress=progress,
            bootstrap=stack.kafka_bootstrap,
        )
    )
    return data


def print_where(
    stack: Stack,
    data: demo.DemoData | None,
    codes: list[tuple[demo.DemoStudent, str]] = (),  # type: ignore[assignment]
) -> None:
    print("\nHocba is running:")
    for name in SERVICES:
        print(f"  {name:<11} {stack.url(name)}   (API docs: {stack.url(name)}/docs)")
    print(
        f"  broker      {stack.kafka_bootstrap} (tansu)   database {stack.mongo_uri} (SecantusDB)"
    )
    print(f"  logs        {stack.state_dir / 'log'}")
    print(
        f"  transparency log  {stack.url('lookup')}/log/checkpoint   "
        f"(its key: {stack.state_dir / 'log-key.pub'})"
    )
    print(f"\nParent portal: {stack.url('lookup')}/")
    if data:
        print(
            "Sign in as these demo parents (synthetic students; the school issued their access "
            "codes), or:"
        )
        for s, code in codes:
            print(
                f"  {s.full_name:<28} số định danh {s.citizen_id}  ngày sinh "
                f"{s.date_of_birth:%d/%m/%Y}  mã truy cập {code}"
            )
        if codes:
            s, code = codes[0]
            print(
                f"  curl -s -c /tmp/hocba-parent -X POST {stack.url('lookup')}/api/session "
                "-H 'content-type: application/json' "
                f'-d \'{{"citizen_id":"{s.citizen_id}","date_of_birth":"{s.date_of_birth}",'
                f'"access_code":"{code}"}}\' && curl -s -b /tmp/hocba-parent '
                f"{stack.url('lookup')}/api/session/records"
            )
        print(
            "  A school administrator issues the others' codes: POST /api/students/{student_id}/"
            "access-code (or a class's, with printable notices: POST /api/schools/{school_id}/"
            "access-codes?format=notice)"
        )
    print_tokens(stack)
    print("\nNext: make smoke (a new student end to end), make stop.")


ROLE_EXAMPLES = (
    ("school_system", "SYSTEM=demo-school-system", "writes the three demo schools' data"),
    (
        "teacher",
        "SCHOOL=079-TH-NBK STAFF=079-TH-NBK-GV1A",
        "homeroom teacher of 1A at Nguyễn Bỉnh Khiêm",
    ),
    ("principal", "SCHOOL=079-TH-NBK STAFF=079-TH-NBK-HT", "the school's principal"),
    (
        "school_admin",
        "SCHOOL=079-TH-NBK STAFF=079-TH-NBK-QT",
        "unlocks a closed class, hands signatures over",
    ),
    ("operator", "", "the city's progress, no personal data"),
    ("auditor", "", "reads the audit trails"),
)


def print_tokens(stack: Stack) -> None:
    print(
        "\nEvery API but the lookup's needs a token (development issuer at "
        + stack.issuer_url
        + "):"
    )
    for role, args, what in ROLE_EXAMPLES:
        print(f"  make -s token ROLE={role} {args}".rstrip() + f"   # {what}")
    print(
        f'  curl -H "Authorization: Bearer $(make -s token ROLE=principal SCHOOL=079-TH-NBK STAFF=079-TH-NBK-HT)" '
        f"{stack.url('records')}/students/HS079011001"
    )


def token(stack: Stack, args: argparse.Namespace) -> int:
    """A token from the running development issuer, as a client would get it (printed alone)."""
    import httpx

    if args.role == "school_system":
        if not args.system:
            print(
                "error: a school system signs in as its client: give SYSTEM=<client id>",
                file=sys.stderr,
            )
            return 2
        secret = stack.issuer.clients().get(args.system, {}).get("secret")
        if secret is None:
            print(
                f"error: {args.system} is not a registered school system of this stack "
                f"({', '.join(stack.school_systems)})",
                file=sys.stderr,
            )
            return 2
        form = {
            "grant_type": "client_credentials",
            "client_id": args.system,
            "client_secret": secret,
        }
    else:
        form = {"grant_type": "urn:hocba:dev:persona", "role": args.role, "ttl": str(args.ttl)}
        form |= {k: v for k, v in (("school_id", args.school), ("staff_id", args.staff)) if v}
    try:
        response = httpx.post(f"{stack.issuer_url}/token", data=form, timeout=5)
    except httpx.HTTPError:
        print(
            f"error: the development issuer does not answer at {stack.issuer_url}; start the stack (make run)",
            file=sys.stderr,
        )
        return 1
    if response.status_code != 200:
        body = response.json()
        print(f"error: {body.get('error_description') or body.get('error')}", file=sys.stderr)
        return 2
    print(response.json()["access_token"])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="hocba-stack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command",
        choices=["up", "demo", "run", "smoke", "stop", "status", "token", "lookup-rebuild"],
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for records to arrive"
    )
    parser.add_argument(
        "--role", help="token: school_system, teacher, principal, school_admin, operator, auditor"
    )
    parser.add_argument(
        "--school", help="token: the school id of a teacher, principal or school administrator"
    )
    parser.add_argument("--staff", help="token: their staff id")
    parser.add_argument("--system", help="token: a school system's client id")
    parser.add_argument("--ttl", type=int, default=3600, help="token: seconds it stays valid")
    args = parser.parse_args(argv)
    stack = stack_from_env()
    if args.command == "token":
        return token(stack, args)
    if args.command == "lookup-rebuild":
        # the lookup's own command, with the settings the stack runs the lookup with (its secret)
        return subprocess.run(
            [sys.executable, "-m", "hocba_lookup", "rebuild"],
            env=stack.service_env("lookup"),
            check=False,
        ).returncode
    try:
        if args.command in ("up", "run"):
            print(f"starting the local stack in {stack.state_dir} ...", flush=True)
            stack.up()
            print("broker, database and the five services are ready", flush=True)
        if args.command in ("demo", "run"):
            data = load_demo(stack, args.timeout)
            print_where(stack, data, issue_demo_codes(stack, data))
        elif args.command == "up":
            print_where(stack, None)
        elif args.command == "smoke":
            return main_smoke(
                stack.kafka_bootstrap,
                {n: stack.url(n) for n in SERVICES},
                min(args.timeout, 180.0),
                stack.headers("school_admin", SMOKE_SCHOOL, f"{SMOKE_SCHOOL}-QT"),
            )
        elif args.command == "stop":
            stopped = stack.stop()
            print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        elif args.command == "status":
            for name, pid in stack.status().items():
                print(f"  {name:<11} {'running, pid ' + str(pid) if pid else 'stopped'}")
    except (StackError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
