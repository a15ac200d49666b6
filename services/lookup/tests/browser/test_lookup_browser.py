"""The lookup portal in Debian's chromium, headless, against the real lookup stack over real HTTP
(browser_portal.py): the front page and its language switch, a parent's lookup and the PDF it
links to, the verification page its QR code leads to for a valid, a superseded, a revoked and an
unknown record, the pages on a phone and without JavaScript. Every page visited is screenshotted
into test-results/browser/<test>/ and checked by axe-core (WCAG 2.0/2.1 A and AA) under its real
Content Security Policy (`Visit.check`).

A new page is one test: `page.goto(f"{portal.url}/path")`, what it must show, `visit.check("step")`.

One browser and one stack serve the whole module. Playwright's sync API keeps its event loop
marked as running in the test thread for as long as it lives, so the browser is closed with the
module (the fixtures below narrow pytest-playwright's session-wide `playwright` and `browser`):
the asyncio tests collected after this module would not run otherwise.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from browser_portal import (  # noqa: E402
    CORRECTION_REASON,
    DESKTOP,
    PHONE,
    REVOCATION_REASON,
    ROOT,
    LivePortal,
    Visit,
    launch_options,
    readme_directory,
    run_directory,
)
from hocba_devstack.devpki import DevPKI  # noqa: E402
from hocba_devstack.testing import LocalInfra  # noqa: E402
from lookup_fixtures import NAME, personal_values  # noqa: E402
from playwright.sync_api import Browser, Page, Playwright, Route, expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    return launch_options()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright, browser_type_launch_args: dict[str, Any]) -> Iterator[Browser]:
    launched = playwright.chromium.launch(**browser_type_launch_args)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def browser_context_args() -> dict[str, Any]:
    return {"viewport": DESKTOP, "locale": "vi-VN", "timezone_id": "Asia/Ho_Chi_Minh"}


@pytest.fixture(scope="module")
def portal(
    local_infra: LocalInfra, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePortal]:
    pki = DevPKI(tmp_path_factory.mktemp("lookup-browser-pki"))
    pki.create()
    live = LivePortal(local_infra, pki).start()
    yield live
    live.stop()


@pytest.fixture
def visit(page: Page, request: pytest.FixtureRequest) -> Iterator[Visit]:
    v = Visit(page, run_directory(request.node.nodeid), readme_directory())
    yield v
    for shot in v.shots:  # listed at the end of the run (hocba_devstack.testing)
        request.node.user_properties.append(("artifact", str(shot.relative_to(ROOT))))


def test_the_front_page_is_in_vietnamese_and_styled_under_its_csp(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    response = page.goto(f"{portal.url}/")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'none';") and "script-src" not in csp
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page).to_have_title("Tra cứu học bạ số")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tra cứu học bạ số")
    expect(page.get_by_label("Số định danh cá nhân của học sinh")).to_be_visible()
    expect(page.get_by_label("Ngày sinh (ngày/tháng/năm)")).to_be_visible()
    # The page's own style (with its nonce) applied: the CSP let it through, and nothing else.
    expect(page.get_by_role("banner")).to_have_css("background-color", "rgb(183, 28, 28)")
    visit.check("front", readme="front")


def test_the_language_switch_goes_to_english_and_back_on_the_same_page(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    page.goto(f"{portal.url}/")
    banner = page.get_by_role("banner")
    expect(banner).to_contain_text("Học bạ số · Tra cứu và xác minh")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(banner).to_contain_text("Digital school records · Look up and verify")
    expect(page.get_by_role("link", name="Tiếng Việt")).to_have_attribute("lang", "vi")
    visit.check("front-english")
    verify = f"{portal.url}/verify/{portal.records.current}"
    page.goto(verify)
    expect(page.locator("html")).to_have_attribute("lang", "en")
    visit.check("verify-english")
    page.get_by_role("link", name="Tiếng Việt").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page).to_have_url(verify)  # the switch returns to the page it was clicked on
    expect(banner).to_contain_text("Học bạ số · Tra cứu và xác minh")
    expect(page.get_by_role("link", name="English")).to_be_visible()
    visit.check("verify-vietnamese")


def test_a_parent_finds_both_versions_of_a_corrected_record_and_downloads_its_pdf(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    records = portal.records
    page.goto(f"{portal.url}/")
    page.get_by_label("Số định danh cá nhân của học sinh").fill(records.citizen_id)
    page.get_by_label("Ngày sinh (ngày/tháng/năm)").fill(records.date_of_birth)
    visit.check("form-filled")
    page.get_by_role("button", name="Tra cứu").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kết quả tra cứu")
    # What was typed went in the form's body: neither the address nor the page repeats it.
    assert page.url == f"{portal.url}/tra-cuu"
    assert not [v for v in personal_values(records.citizen_id) if v in page.content() + page.url]
    rows = page.get_by_role("row").filter(has_text=NAME)
    expect(rows).to_have_count(2)
    old = rows.filter(has_text="Đã có phiên bản mới")
    expect(old).to_contain_text(
        f"Đã có phiên bản mới: {records.current} (lý do sửa: {CORRECTION_REASON})"
    )
    visit.check("results", readme="results")
    current = rows.filter(has_not_text="Đã có phiên bản mới")
    pdf = visit.pdf(current.get_by_role("link", name="PDF"))
    assert pdf == portal.published_pdf(records.current), "the PDF publishing rendered and sealed"
    current.get_by_role("link", name="Xem và xác minh").click()
    expect(page.locator(".status")).to_have_text("✔ Hợp lệ")
    expect(page).to_have_url(f"{portal.url}/verify/{records.current}")
    visit.check("verify-from-results")


def test_a_pdf_link_past_its_time_shows_a_page_that_says_to_look_up_again(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    response = page.goto(f"{portal.url}/pdf/not-a-ticket")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Liên kết không còn dùng được")
    expect(page.get_by_role("main")).to_contain_text("Hãy tra cứu lại")
    visit.check("pdf-gone", readme="message")


@pytest.mark.parametrize(
    ("which", "status", "shown"),
    [
        ("current", "✔ Hợp lệ", ["Nội dung còn nguyên vẹn", f"lý do: {CORRECTION_REASON}"]),
        ("superseded", "✔ Hợp lệ", ["đã được thay bằng phiên bản mới"]),
        ("revoked", "✘ Đã bị thu hồi", [REVOCATION_REASON, "học bạ không còn giá trị"]),
        ("unknown", "Không tìm thấy học bạ HB-2024-0000-0000-0000", ["Kiểm tra lại mã học bạ"]),
    ],
    ids=["current", "superseded", "revoked", "unknown"],
)
def test_the_verification_page_its_qr_code_leads_to(
    page: Page, visit: Visit, portal: LivePortal, which: str, status: str, shown: list[str]
) -> None:
    records = portal.records
    document_id = getattr(records, which)
    response = page.goto(f"{portal.url}/verify/{document_id}")  # the address the QR code holds
    assert response is not None and response.status == (404 if which == "unknown" else 200)
    expect(page).to_have_title("Xác minh học bạ")
    expect(page.locator(".status")).to_have_text(status)
    main = page.get_by_role("main")
    for text in shown:
        expect(main).to_contain_text(text)
    if which == "superseded":
        expect(main).to_contain_text(
            f"đã được thay bằng phiên bản mới {records.current} (lý do sửa: {CORRECTION_REASON})"
        )
    if which != "unknown":
        expect(main).to_contain_text(NAME)
        expect(main).to_contain_text("Trường Tiểu học Hòa Bình")
        expect(page.get_by_role("row", name="Toán")).to_be_visible()
    citizen_id = records.revoked_citizen_id if which == "revoked" else records.citizen_id
    assert not [v for v in personal_values(citizen_id) if v in page.content()]
    visit.check(f"verify-{which}", readme=f"verify-{which}")


@pytest.mark.browser_context_args(viewport=PHONE, is_mobile=True, has_touch=True)
def test_on_a_phone_no_page_overflows_sideways(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    records = portal.records

    def fits(step: str, readme: str | None = None) -> None:
        visit.check(step, readme=readme)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{step}: {wide} px wide on a {PHONE['width']} px screen"

    page.goto(f"{portal.url}/")
    fits("front", readme="phone")
    page.get_by_label("Số định danh cá nhân của học sinh").fill(records.citizen_id)
    page.get_by_label("Ngày sinh (ngày/tháng/năm)").fill(records.date_of_birth)
    page.get_by_role("button", name="Tra cứu").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kết quả tra cứu")
    fits("results")
    for which in ("current", "superseded", "revoked"):
        page.goto(f"{portal.url}/verify/{getattr(records, which)}")
        fits(f"verify-{which}")


@pytest.mark.browser_context_args(java_script_enabled=False)
def test_without_javascript_a_parent_looks_up_verifies_and_switches_language(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    records = portal.records
    page.goto(f"{portal.url}/")
    page.get_by_label("Số định danh cá nhân của học sinh").fill(records.citizen_id)
    page.get_by_label("Ngày sinh (ngày/tháng/năm)").fill(records.date_of_birth)
    page.get_by_role("button", name="Tra cứu").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Kết quả tra cứu")
    visit.check("results", axe=False)
    rows = page.get_by_role("row").filter(has_text=NAME)
    visit.pdf(rows.first.get_by_role("link", name="PDF"))
    rows.filter(has_not_text="Đã có phiên bản mới").get_by_role(
        "link", name="Xem và xác minh"
    ).click()
    expect(page.locator(".status")).to_have_text("✔ Hợp lệ")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(f"{portal.url}/verify/{records.current}")
    visit.check("verify-english", axe=False)


def test_a_form_with_mistakes_says_what_to_fix_without_repeating_what_was_typed(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    page.goto(f"{portal.url}/")
    typed = portal.records.citizen_id[:11]
    page.get_by_label("Số định danh cá nhân của học sinh").fill(typed)
    page.get_by_label("Ngày sinh (ngày/tháng/năm)").fill("31/02/2014")
    page.get_by_role("button", name="Tra cứu").click()
    errors = page.locator(".error")
    expect(errors).to_have_count(2)
    expect(errors.first).to_contain_text("12 chữ số")
    expect(errors.last).to_contain_text("ngày/tháng/năm")
    expect(page.get_by_label("Số định danh cá nhân của học sinh")).to_have_value("")
    assert typed not in page.content()
    visit.check("form-errors", readme="form-errors")


def test_each_check_fails_on_a_page_that_breaks_it(
    page: Page, portal: LivePortal, tmp_path: Path
) -> None:
    """So that a page passing `Visit.check` means something: axe finds an unlabelled field and
    faint text, the console watch a style the CSP refused, the script rule a script element (each
    page served from the portal's origin with the portal's real policy)."""
    answer = page.goto(f"{portal.url}/")
    assert answer is not None
    csp = answer.headers["content-security-policy"]
    found = re.search(r"'nonce-([^']+)'", csp)
    assert found
    nonce = found.group(1)
    broken = {
        "axe": (
            f'<style nonce="{nonce}">p {{ color: #bbb; }}</style><p>faint</p><input>',
            r"color-contrast(.|\n)*label|label(.|\n)*color-contrast",
        ),
        "csp": (
            "<style>p { color: red; }</style><p>styled without the nonce</p>",
            "Content Security Policy",
        ),
        "script": ("<p>scripted</p><script>document.title = 'x';</script>", "carries a script"),
    }
    for name, (body, failure) in broken.items():
        probe = page.context.new_page()
        url = f"{portal.url}/probe-{name}"
        html = f'<!DOCTYPE html><html lang="vi"><head><title>{name}</title></head><body><main><h1>{name}</h1>{body}</main></body></html>'
        probe.route(url, serve(html, csp))
        check = Visit(probe, tmp_path / name)
        probe.goto(url)
        with pytest.raises(AssertionError, match=failure):
            check.check(name)
        probe.close()


def serve(html: str, csp: str) -> Callable[[Route], None]:
    """A route handler answering with `html` under the policy `csp`."""

    def fulfill(route: Route) -> None:
        route.fulfill(
            status=200,
            content_type="text/html; charset=utf-8",
            headers={"content-security-policy": csp},
            body=html,
        )

    return fulfill
