"""The lookup portal in a real browser, for the browser tests (tests/browser/) and the README's
screenshots (scripts/lookup_screenshots.py).

- `LivePortal`: the real lookup stack of the integration tests (`lookup_stack.running`: publishing
  and the lookup on the local broker, database and issuer, records signed with a development PKI)
  served over real HTTP by uvicorn on a free port, in a thread with an event loop of its own. Its
  read model holds published records of a fictional student, who signs in with the access code
  its school's administrator issued: a current one that corrects an older version (which is
  therefore superseded) and, of an earlier school year, a revoked one (`Published`).
- `Visit`: what is checked on every page a test visits (`Visit.check`): a full-page screenshot in
  the run directory, `test-results/browser/<test>/<step>.png`; no script element and no refusal by
  the Content Security Policy in the console (the pages work without JavaScript); and axe-core's
  WCAG 2.0 and 2.1 A and AA rules with no violation. `Visit.pdf` fetches the PDF behind a link as
  the browser does (its cookies, the real server) and checks that it is one.

Debian's chromium is driven headless (`CHROMIUM`, `LAUNCH_ARGS`): `playwright install` downloads a
browser of its own, which this project never does. axe-core comes with axe-playwright-python (its
bundled axe.min.js), injected with `page.evaluate`, which the pages' CSP (no scripts at all) does
not govern, so the pages are checked under their real policy, not with `bypass_csp`.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from hocba_devstack.devpki import DevPKI
from hocba_devstack.testing import LocalInfra, eventually
from lookup_fixtures import BORN, signed, unlock_correction
from lookup_stack import PUBLISHING_URL, Stack, running
from playwright.sync_api import ConsoleMessage, Error, Locator, Page, Response, Route

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
RUN_DIR = ROOT / "test-results" / "browser"
README_DIR_ENV = "HOCBA_LOOKUP_SCREENSHOTS"
"""When set (scripts/lookup_screenshots.py sets it to docs/img), the steps a test names for the
README are also written there, as lookup-<name>.png."""
DESKTOP = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}

CORRECTION_REASON = "Sai điểm Toán cuối năm, đã nhập lại"
REVOCATION_REASON = "Cấp nhầm học bạ; nhà trường đã cấp lại bản đúng"
T = TypeVar("T")


def launch_options() -> dict[str, Any]:
    return {"executable_path": CHROMIUM, "headless": True, "args": LAUNCH_ARGS}


@dataclass(frozen=True)
class Published:
    """The portal's records, all of one student (`citizen_id`, `BORN`, school `student_id`), who
    signs in with `access_code`: in 2024-2025 a corrected record, `current` (version 2, valid)
    and `superseded` (version 1); in 2023-2024 `revoked`, which the school's principal revoked.
    `notice_student_id` is another student of the school, whose code the notice tests re-issue
    (so that re-issuing never ends the sessions of the other tests)."""

    citizen_id: str
    student_id: str
    access_code: str
    current: str
    superseded: str
    revoked: str
    notice_student_id: str
    unknown: str = "HB-2024-0000-0000-0000"

    @property
    def date_of_birth(self) -> str:
        """As a Vietnamese parent types it into the form."""
        return BORN.strftime("%d/%m/%Y")


async def publish_records(stack: Stack, local_infra: LocalInfra, pki: DevPKI) -> Published:
    """Publish through publishing, as the pipeline does, wait until the lookup shows each one, and
    have the school's administrator issue the student's access code (the school-admin API)."""
    citizen_id, student = "079314066601", f"HS{uuid.uuid4().int % 10**8:08d}"
    first = await stack.publish(signed(pki, citizen_id=citizen_id, student_id=student))
    correction = unlock_correction(CORRECTION_REASON)
    second = await stack.publish(
        signed(pki, citizen_id=citizen_id, version=2, student_id=student, correction=correction)
    )
    revoked = await stack.publish(
        signed(pki, citizen_id=citizen_id, student_id=student, school_year="2023-2024", grade=4)
    )
    other = signed(pki, citizen_id="079314066602")
    await stack.publish(other)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.publishing.app),
        base_url=PUBLISHING_URL,
        headers=local_infra.headers("principal", "079-TH-L", "HT-L"),
    ) as publishing:
        done = await publishing.post(
            f"/documents/{revoked}/revocation", json={"reason": REVOCATION_REASON}
        )
        assert done.status_code == 200, done.text

    def status(document_id: str, wanted: str) -> Callable[[], Coroutine[Any, Any, bool]]:
        async def shown() -> bool:
            answer = await stack.http.get(f"/api/documents/{document_id}")
            return bool(answer.json()["status"] == wanted)

        return shown

    await eventually(status(first, "superseded"), timeout=30)
    await eventually(status(revoked, "revoked"), timeout=30)
    code = await stack.issue_code(student)
    return Published(citizen_id, student, code, second, first, revoked, other.student_id)


class LivePortal:
    """The lookup stack over real HTTP, in a thread of its own; `start()` returns once it serves
    and its records are published, `stop()` shuts it down."""

    def __init__(
        self, local_infra: LocalInfra, pki: DevPKI, seal: dict[str, Any] | None = None
    ) -> None:
        self.local_infra = local_infra
        self.pki = pki
        self.seal = seal
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.published: Published | None = None
        self.stack: Stack | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lookup-portal", daemon=True)

    @property
    def records(self) -> Published:
        assert self.published is not None, "the portal has not started"
        return self.published

    def start(self, timeout: float = 180) -> LivePortal:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the lookup portal did not start within {timeout} s")
        if self._failure is not None:
            raise RuntimeError("the lookup portal did not start") from self._failure
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(60)
        self._socket.close()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        """Run a coroutine on the stack's event loop (to publish or revoke more, say)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def staff(self, role: str = "school_admin") -> dict[str, str]:
        """The bearer token header of the school's staff (from the development issuer)."""
        assert self.stack is not None
        return self.stack.staff(role)

    def open_notice(self, page: Page) -> Response | None:
        """Open, in `page`, the printable notice the school administrator gets on re-issuing the
        notice student's code (`POST …/access-code?format=notice` with a bearer token): the
        browser's own navigation, turned into that POST with the token, so that the page comes
        with the server's real headers (its CSP) and the browser renders it as served."""
        url = f"{self.url}/api/students/{self.records.notice_student_id}/access-code?format=notice"
        headers = self.staff()

        def as_school_admin(route: Route) -> None:
            route.continue_(method="POST", headers={**route.request.headers, **headers})

        page.route(url, as_school_admin)
        try:
            return page.goto(url)
        finally:
            page.unroute(url, as_school_admin)

    def published_pdf(self, document_id: str) -> bytes:
        """The PDF publishing keeps for a document (what a download must bring)."""
        assert self.stack is not None
        kept = self.run(self.stack.publishing.rendering.pdfs.get(document_id))
        assert kept is not None, f"publishing has no PDF of {document_id}"
        return bytes(kept.pdf)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # noqa: BLE001 - handed to the thread that waits in start()
            self._failure = e
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()

        def databases(name: str) -> str:
            return f"t_{name}_{uuid.uuid4().hex[:8]}"

        # The pages link to the lookup's public URL (the PDF tickets, the verification pages).
        # `seal`: publishing's settings of the school's PDF seal (`school_seal`), as in production.
        async with running(
            self.local_infra, databases, self.pki, public_url=self.url, publishing_extra=self.seal
        ) as stack:
            self.stack = stack
            self.published = await publish_records(stack, self.local_infra, self.pki)
            # The stack is started already: uvicorn serves the app without running its lifespan.
            config = uvicorn.Config(
                stack.lookup.app,
                lifespan="off",
                log_level="warning",
                access_log=False,
            )
            self._server = uvicorn.Server(config)
            # The socket listens already: a browser that connects before uvicorn accepts waits.
            serving = asyncio.create_task(self._server.serve(sockets=[self._socket]))
            self._ready.set()
            await serving


def run_directory(nodeid: str) -> Path:
    """A test's own directory of screenshots: test-results/browser/<test function>[<params>]."""
    name = nodeid.rsplit("::", 1)[-1]
    return RUN_DIR / re.sub(r"[^\w.\[\]-]+", "-", name)


@dataclass
class Visit:
    """One test's pages: `check(step)` on every page it reaches (see the module's docstring)."""

    page: Page
    directory: Path
    readme_dir: Path | None = None
    shots: list[Path] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.watch(self.page)

    def watch(self, page: Page) -> None:
        """Collect what the page's console reports: a style or script the CSP refused, an error."""

        def console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                self.refusals.append(message.text)

        page.on("console", console)
        page.on("pageerror", lambda error: self.refusals.append(f"page error: {error}"))

    def check(
        self, step: str, *, page: Page | None = None, readme: str | None = None, axe: bool = True
    ) -> Path:
        """Screenshot the page as it is now, then check it; the screenshot's path."""
        page = page or self.page
        shot = self.directory / f"{len(self.shots) + 1:02d}-{step}.png"
        page.screenshot(path=shot, full_page=True)
        self.shots.append(shot)
        if readme is not None and self.readme_dir is not None:
            page.screenshot(path=self.readme_dir / f"lookup-{readme}.png", full_page=True)
        where = f"{step} ({page.url})"
        assert page.locator("script").count() == 0, f"{where}: the page carries a script"
        assert not self.refusals, f"{where}: {self.refusals}"
        if axe:
            assert_accessible(page, where)
        return shot

    def pdf(self, link: Locator) -> bytes:
        """The PDF behind a link, fetched with the page's cookies from the real server; asserts
        that it is one (200, application/pdf, starting with %PDF)."""
        href = link.get_attribute("href")
        assert href, "the link has no href"
        response = self.page.context.request.get(urljoin(self.page.url, href))
        body = response.body()
        assert response.status == 200, (response.status, href)
        assert response.headers["content-type"] == "application/pdf", response.headers
        assert body.startswith(b"%PDF-"), body[:20]
        return body


def assert_accessible(page: Page, where: str) -> None:
    """axe-core's WCAG 2.0/2.1 A and AA rules on the page as it is: no violation."""
    try:
        results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}})
    except Error as e:  # a page whose CSP kept axe out would land here
        raise AssertionError(f"{where}: axe did not run: {e}") from e
    violations = results.response["violations"]
    assert not violations, f"{where}: {results.generate_report()}"


def readme_directory() -> Path | None:
    value = os.environ.get(README_DIR_ENV)
    if not value:
        return None
    path = Path(value) if Path(value).is_absolute() else ROOT / value
    path.mkdir(parents=True, exist_ok=True)
    return path
