"""The parent portal in Debian's chromium, headless, against the real lookup stack over real HTTP
(browser_portal.py): the sign-in form and its language switch, a failed sign-in, the portal a
parent reaches with the school's access code (every year, its results, every version), the PDFs
it links to, sign-out, the school administrator's printable notice, the verification page a
record's QR code leads to (valid, superseded, revoked, unknown), the pages on a phone and without
JavaScript, and the session cookie as the browser keeps it; the verification start page (the
front page's link): a code typed off the paper, a malformed one, an unknown one, and the PDF a
parent downloaded uploaded as it is (valid, with the school's seal: the portal's publishing seals
with a key in SoftHSM, `school_seal`), with one byte flipped, and a file that is no PDF. Every page visited is screenshotted
into test-results/browser/<test>/ and checked by axe-core (WCAG 2.0/2.1 A and AA) under its real
Content Security Policy (`Visit.check`).

A new page is one test: `page.goto(f"{portal.url}/path")` (or `sign_in(page, portal)` first for
a parent's page), what it must show, `visit.check("step", readme="name")` (`readme` names the
README's screenshot, docs/img/lookup-<name>.png, when scripts/lookup_screenshots.py runs).

Each signed-in test signs in anew (a page of its own, cookies of its own); the student's sign-in
allows 10 attempts an hour (`STUDENT_LIMIT`), which the module stays under (9): the uploads share
one download (`downloaded_pdf`).

One browser and one stack serve the whole module. Playwright's sync API keeps its event loop
marked as running in the test thread for as long as it lives, so the browser is closed with the
module (the fixtures below narrow pytest-playwright's session-wide `playwright` and `browser`):
the asyncio tests collected after this module would not run otherwise.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
sys.path.insert(0, str(Path(__file__).parents[3] / "publishing" / "tests"))  # seal_fixtures
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
from hocba_lookup.entrypoints.http import FAILED_VI  # noqa: E402
from lookup_fixtures import NAME, personal_values  # noqa: E402
from lookup_seal import SCHOOL_NAME, school_seal  # noqa: E402
from playwright.sync_api import (  # noqa: E402
    Browser,
    FilePayload,
    Locator,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

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
    seal = school_seal(pki, tmp_path_factory.mktemp("lookup-browser-seal"))
    live = LivePortal(local_infra, pki, seal).start()
    yield live
    live.stop()


@pytest.fixture
def visit(page: Page, request: pytest.FixtureRequest) -> Iterator[Visit]:
    v = Visit(page, run_directory(request.node.nodeid), readme_directory())
    yield v
    for shot in v.shots:  # listed at the end of the run (hocba_devstack.testing)
        request.node.user_properties.append(("artifact", str(shot.relative_to(ROOT))))


ID_LABEL = "Số định danh cá nhân của học sinh"
BORN_LABEL = "Ngày sinh (ngày/tháng/năm)"
CODE_LABEL = "Mã truy cập"
SESSION_COOKIE = "hocba_session"


def fill_sign_in(page: Page, portal: LivePortal, code: str | None = None) -> None:
    """The sign-in form filled in as a parent does, with the student's code unless `code`."""
    records = portal.records
    page.get_by_label(ID_LABEL).fill(records.citizen_id)
    page.get_by_label(BORN_LABEL).fill(records.date_of_birth)
    page.get_by_label(CODE_LABEL).fill(code or records.access_code)


def sign_in(page: Page, portal: LivePortal) -> None:
    """Sign in through the form, as a parent does; on the portal page afterwards."""
    page.goto(f"{portal.url}/")
    fill_sign_in(page, portal)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(f"{portal.url}/hoc-ba")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Học bạ số của {NAME}")


def year(page: Page, school_year: str) -> Locator:
    """The portal's section of a school year."""
    return page.get_by_role("region", name=f"Năm học {school_year}")


def no_personal_value(page: Page, portal: LivePortal) -> None:
    shown = page.content() + page.url
    assert not [v for v in personal_values(portal.records.citizen_id) if v in shown]
    assert portal.records.access_code not in shown


# -- the sign-in form ------------------------------------------------------------------------
def test_the_sign_in_form_is_in_vietnamese_and_styled_under_its_csp(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    response = page.goto(f"{portal.url}/")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert csp.startswith("default-src 'none';") and "script-src" not in csp
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page).to_have_title("Đăng nhập tra cứu học bạ số")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tra cứu học bạ số")
    for label in (ID_LABEL, BORN_LABEL, CODE_LABEL):
        expect(page.get_by_label(label)).to_be_visible()
    expect(page.get_by_role("button", name="Đăng nhập")).to_be_visible()
    # The page's own style (with its nonce) applied: the CSP let it through, and nothing else.
    expect(page.get_by_role("banner")).to_have_css("background-color", "rgb(183, 28, 28)")
    visit.check("sign-in", readme="sign-in")


def test_the_language_switch_goes_to_english_and_back_on_the_same_page(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    page.goto(f"{portal.url}/")
    banner = page.get_by_role("banner")
    expect(banner).to_contain_text("Học bạ số · Tra cứu và xác minh")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(banner).to_contain_text("Digital school records · Look up and verify")
    expect(page.get_by_label("The student's personal ID number")).to_be_visible()
    expect(page.get_by_label("Access code")).to_be_visible()
    expect(page.get_by_role("link", name="Tiếng Việt")).to_have_attribute("lang", "vi")
    visit.check("sign-in-english")
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


def test_a_wrong_code_gets_the_uniform_answer_and_nothing_typed_is_repeated(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    records = portal.records
    wrong = ("2" if records.access_code[0] != "2" else "3") + records.access_code[1:]
    page.goto(f"{portal.url}/")
    fill_sign_in(page, portal, code=wrong)
    visit.check("form-filled")
    response_status: list[int] = []
    page.on(
        "response", lambda r: response_status.append(r.status) if "/dang-nhap" in r.url else None
    )
    page.get_by_role("button", name="Đăng nhập").click()
    alert = page.locator("#sign-in-error")
    expect(alert).to_have_text(FAILED_VI)
    expect(alert).to_have_attribute("role", "alert")
    assert response_status == [401]
    assert page.url == f"{portal.url}/dang-nhap"  # what was typed went in the body, not the URL
    for label in (ID_LABEL, BORN_LABEL, CODE_LABEL):
        expect(page.get_by_label(label)).to_have_value("")
    assert wrong not in page.content()
    no_personal_value(page, portal)
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    visit.check("sign-in-error", readme="sign-in-error")


def test_a_form_with_mistakes_says_what_to_fix_without_repeating_what_was_typed(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    page.goto(f"{portal.url}/")
    typed = portal.records.citizen_id[:11]
    page.get_by_label(ID_LABEL).fill(typed)
    page.get_by_label(BORN_LABEL).fill("31/02/2014")
    page.get_by_label(CODE_LABEL).fill("ABC")
    page.get_by_role("button", name="Đăng nhập").click()
    for field, says in (
        ("citizen_id", "12 chữ số"),
        ("date_of_birth", "ngày/tháng/năm"),
        ("access_code", "XXXX-XXXX-XXXX"),
    ):
        expect(page.locator(f"#{field}-error")).to_contain_text(says)
        # Each message is tied to its field, which a screen reader announces with it.
        expect(page.locator(f"#{field}")).to_have_attribute("aria-describedby", f"{field}-error")
        expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
        expect(page.locator(f"#{field}")).to_have_value("")
    assert typed not in page.content()
    visit.check("form-errors", readme="form-errors")


# -- the portal --------------------------------------------------------------------------------
def test_a_signed_in_parent_sees_every_year_its_results_and_every_version(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    records = portal.records
    sign_in(page, portal)
    expect(page.get_by_role("heading", level=2, name=re.compile("^Năm học"))).to_have_text(
        ["Năm học 2024-2025", "Năm học 2023-2024"]  # newest first
    )
    latest = year(page, "2024-2025")
    expect(latest).to_contain_text("Lớp 5B · Kết quả cuối năm: Hoàn thành tốt")
    expect(latest.get_by_role("row", name="Toán")).to_contain_text("Hoàn thành tốt")
    expect(latest.get_by_role("row", name="Toán")).to_contain_text("9.0")
    versions = latest.get_by_role("listitem")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text(f"Phiên bản 2 ({records.current}): đang có hiệu lực")
    expect(versions.nth(0)).to_contain_text(f"bản sửa đổi, lý do: {CORRECTION_REASON}")
    expect(versions.nth(1)).to_contain_text(
        f"Phiên bản 1 ({records.superseded}): đã được thay bằng phiên bản mới {records.current}; "
        f"lý do sửa: {CORRECTION_REASON}"
    )
    earlier = year(page, "2023-2024")
    expect(earlier).to_contain_text("Học bạ năm học này đã bị nhà trường thu hồi.")
    expect(earlier.get_by_role("link", name=re.compile("PDF"))).to_have_count(0)
    # When, in Vietnam's time (UTC+7), as the verification API states it in UTC.
    answer = page.context.request.get(f"{portal.url}/api/documents/{records.revoked}").json()
    at = datetime.fromisoformat(answer["revocation"]["revoked_at"]) + timedelta(hours=7)
    expect(earlier.get_by_role("listitem")).to_have_text(
        re.compile(
            rf"Phiên bản 1 \({records.revoked}\):\s+đã bị thu hồi lúc "
            rf"{at:%H:%M} ngày {at:%d/%m/%Y}; lý do: {re.escape(REVOCATION_REASON)}"
        )
    )
    no_personal_value(page, portal)
    visit.check("portal", readme="portal")


def test_the_session_cookie_is_http_only_and_same_site_strict_in_the_browser(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    sign_in(page, portal)
    cookies = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert len(cookies) == 1, page.context.cookies()
    cookie = cookies[0]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/"
    assert cookie["expires"] == -1  # a session cookie: the browser forgets it when it closes
    assert SESSION_COOKIE not in page.evaluate("document.cookie")  # no script can read it
    visit.check("portal")


def test_a_parent_downloads_a_years_pdf_and_the_whole_book(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    sign_in(page, portal)
    visit.check("portal")
    pdf = visit.pdf(
        year(page, "2024-2025").get_by_role("link", name="Tải học bạ năm học 2024-2025 (PDF)")
    )
    assert pdf == portal.published_pdf(portal.records.current), "the PDF publishing sealed"
    # The whole primary-school book: the student's one unrevoked year (2023-2024 was revoked).
    visit.pdf(page.get_by_role("link", name="Sổ học bạ cấp Tiểu học (PDF)"))


def test_the_view_and_verify_link_leads_to_the_verification_page(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    sign_in(page, portal)
    year(page, "2024-2025").get_by_role("link", name="Xem và xác minh").click()
    expect(page).to_have_url(f"{portal.url}/verify/{portal.records.current}")
    expect(page.locator(".status")).to_have_text("✔ Hợp lệ")
    visit.check("verify-from-portal")


def test_signing_out_ends_the_session(page: Page, visit: Visit, portal: LivePortal) -> None:
    sign_in(page, portal)
    pdf_link = year(page, "2024-2025").get_by_role("link", name=re.compile(r"\(PDF\)"))
    pdf_url = str(pdf_link.get_attribute("href"))
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page).to_have_url(f"{portal.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tra cứu học bạ số")
    assert not [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    visit.check("signed-out")
    for address in (f"{portal.url}/hoc-ba", pdf_url):
        response = page.goto(address)
        assert response is not None and response.status == 401, address
        expect(page.get_by_role("heading", level=1)).to_have_text("Chưa đăng nhập")
        page.get_by_role("link", name="Đăng nhập").click()
        expect(page).to_have_url(f"{portal.url}/")
    visit.check("back-to-sign-in")


def test_a_parents_page_without_a_session_says_to_sign_in(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    response = page.goto(f"{portal.url}/hoc-ba/pdf/{portal.records.current}")
    assert response is not None and response.status == 401
    expect(page.get_by_role("heading", level=1)).to_have_text("Chưa đăng nhập")
    expect(page.get_by_role("main")).to_contain_text("Hãy đăng nhập lại")
    visit.check("not-signed-in", readme="message")


# -- the school ---------------------------------------------------------------------------------
def test_the_school_administrators_printable_notice(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    response = portal.open_notice(page)
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none';")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    notice = page.get_by_role("region", name="Giấy báo mã truy cập học bạ số")
    expect(notice).to_contain_text(f"Kính gửi cha mẹ học sinh {NAME}, lớp 5B, năm học 2024-2025")
    expect(notice).to_contain_text(f"{portal.url}/")
    expect(notice.locator(".code")).to_have_text(
        re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")
    )
    assert "079314066602" not in page.content()  # never the personal ID number
    visit.check("notice", readme="notice")


# -- verification --------------------------------------------------------------------------------
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
    if which in ("current", "superseded"):
        has_verdict_lines(page)
    if which != "unknown":
        expect(main).to_contain_text(NAME)
        expect(main).to_contain_text("Trường Tiểu học Hòa Bình")
        expect(page.get_by_role("row", name="Toán")).to_be_visible()
    no_personal_value(page, portal)
    visit.check(f"verify-{which}", readme=f"verify-{which}")


VERDICT_LINES = [
    re.compile(
        rf"✔ Chữ ký của Hiệu trưởng: Bùi Văn Lộc, {SCHOOL_NAME}, ký lúc \d\d:\d\d ngày "
        r"\d\d/\d\d/\d{4} \(giờ Việt Nam\); chứng thư số do .+ cấp — hợp lệ"
    ),
    re.compile(r"✔ Có trong sổ công khai: mục số \d+, mốc có chữ ký gồm \d+ mục"),
]
"""What a valid verdict lists: each signer with role, school, signing time in Vietnam's time and
certificate issuer; the transparency log's entry."""
SEAL_LINE = "Dấu niêm phong PDF hợp lệ (dấu niêm phong của nhà trường)"
CODE_FIELD = re.compile("^Mã học bạ")
PDF_FIELD = re.compile("^Tệp PDF học bạ số")


def has_verdict_lines(page: Page) -> None:
    checks = page.get_by_role("list").first.get_by_role("listitem")
    for line in VERDICT_LINES:
        expect(checks.filter(has_text=line)).to_have_count(1)


@pytest.fixture(scope="module")
def downloaded_pdf(browser: Browser, portal: LivePortal) -> bytes:
    """The current record's PDF as a signed-in parent downloads it from the portal (one sign-in
    for the module's uploads: the student's sign-ins are limited)."""
    context = browser.new_context(locale="vi-VN")
    page = context.new_page()
    sign_in(page, portal)
    link = year(page, "2024-2025").get_by_role("link", name="Tải học bạ năm học 2024-2025 (PDF)")
    answer = context.request.get(urljoin(page.url, str(link.get_attribute("href"))))
    assert answer.status == 200 and answer.body().startswith(b"%PDF-"), answer.status
    pdf = answer.body()
    context.close()
    return pdf


def flipped(pdf: bytes, at: int = 300) -> bytes:
    changed = bytearray(pdf)
    changed[at] ^= 0x01
    return bytes(changed)


def upload(page: Page, portal: LivePortal, body: bytes, name: str = "hocba.pdf") -> None:
    """The start page's upload form, a file chosen as a person chooses it, and sent."""
    page.goto(f"{portal.url}/verify")
    mime = "application/pdf" if name.endswith(".pdf") else "text/plain"
    chosen: FilePayload = {"name": name, "mimeType": mime, "buffer": body}
    page.get_by_label(PDF_FIELD).set_input_files(files=[chosen])
    page.get_by_role("button", name="Kiểm tra tệp").click()


def test_from_the_front_page_a_typed_code_leads_to_the_documents_verdict(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    records = portal.records
    page.goto(f"{portal.url}/")
    page.get_by_role("link", name="Mở trang xác minh học bạ").click()
    expect(page).to_have_url(f"{portal.url}/verify")
    expect(page.get_by_role("heading", level=1)).to_have_text("Xác minh học bạ số")
    expect(page.get_by_label(PDF_FIELD)).to_be_visible()
    visit.check("start", readme="verify-start")
    sloppy = " " + records.current.lower().replace("-", " - ") + " "  # as typed off the paper
    page.get_by_label(CODE_FIELD).fill(sloppy)
    page.get_by_role("button", name="Xác minh", exact=True).click()
    expect(page).to_have_url(f"{portal.url}/verify/{records.current}")
    expect(page.locator(".status")).to_have_text("✔ Hợp lệ")
    has_verdict_lines(page)
    no_personal_value(page, portal)
    visit.check("verdict")


def test_a_malformed_code_says_what_to_fix_at_its_field_and_an_unknown_one_is_not_found(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    page.goto(f"{portal.url}/verify")
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "code=" in r.url else None)
    page.get_by_label(CODE_FIELD).fill("HB-2024-12")
    page.get_by_role("button", name="Xác minh", exact=True).click()
    error = page.locator("#code-error")
    expect(error).to_contain_text("Mã học bạ không đúng dạng")
    expect(error).to_have_attribute("role", "alert")
    field = page.get_by_label(CODE_FIELD)
    expect(field).to_have_attribute("aria-describedby", "code-error")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("")
    assert statuses == [422]
    visit.check("code-error", readme="verify-code-error")
    page.get_by_label(CODE_FIELD).fill("hb 2024 0000 0000 0000")
    page.get_by_role("button", name="Xác minh", exact=True).click()
    expect(page).to_have_url(f"{portal.url}/verify/{portal.records.unknown}")
    expect(page.locator(".status")).to_have_text(f"Không tìm thấy học bạ {portal.records.unknown}")
    visit.check("unknown")


def test_an_uploaded_pdf_verifies_with_the_schools_seal(
    page: Page, visit: Visit, portal: LivePortal, downloaded_pdf: bytes
) -> None:
    upload(page, portal, downloaded_pdf)
    expect(page).to_have_url(f"{portal.url}/verify/pdf")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kết quả kiểm tra tệp PDF học bạ")
    expect(page.locator(".status")).to_have_text("✔ Hợp lệ")
    main = page.get_by_role("main")
    expect(main).to_contain_text(f"Mã học bạ ghi trong tệp: {portal.records.current}")
    expect(main).to_contain_text(SEAL_LINE)
    expect(main).to_contain_text("Học bạ đã công bố mang mã này là phiên bản hiện hành")
    expect(main).not_to_contain_text("✘")
    has_verdict_lines(page)
    no_personal_value(page, portal)
    visit.check("pdf-valid", readme="verify-pdf-valid")


def test_an_uploaded_pdf_with_one_byte_flipped_is_not_valid_and_says_why(
    page: Page, visit: Visit, portal: LivePortal, downloaded_pdf: bytes
) -> None:
    tampered = flipped(downloaded_pdf)
    upload(page, portal, tampered)
    expect(page.locator(".status")).to_have_text("✘ Không hợp lệ")
    answer = page.context.request.post(
        f"{portal.url}/api/verify", data=tampered, headers={"content-type": "application/pdf"}
    ).json()
    why = answer["unreadable"] or answer["verification"]["seal"]
    assert why and not why.get("valid", False), answer
    expect(page.get_by_role("main")).to_contain_text(why["message_vi"])  # the reason, shown
    expect(page.get_by_role("main")).not_to_contain_text("✔ Hợp lệ")
    no_personal_value(page, portal)
    visit.check("pdf-tampered", readme="verify-pdf-tampered")


def test_an_uploaded_file_that_is_no_pdf_gets_the_clear_message_at_its_field(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    upload(page, portal, b"hello, not a record\n", name="notes.txt")
    error = page.locator("#pdf-error")
    expect(error).to_have_text(
        "Tệp đã chọn không phải tệp PDF. Hãy chọn tệp PDF học bạ số mà nhà trường cấp."
    )
    expect(page.get_by_label(PDF_FIELD)).to_have_attribute("aria-describedby", "pdf-error")
    visit.check("not-a-pdf")


# -- a phone, no JavaScript ---------------------------------------------------------------------
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
    fits("sign-in", readme="sign-in-phone")
    sign_in(page, portal)
    fits("portal", readme="portal-phone")
    for which in ("current", "superseded", "revoked"):
        page.goto(f"{portal.url}/verify/{getattr(records, which)}")
        fits(f"verify-{which}")
    portal.open_notice(page)
    expect(page.locator(".code")).to_be_visible()
    fits("notice")


@pytest.mark.browser_context_args(viewport=PHONE, is_mobile=True, has_touch=True)
def test_on_a_phone_the_verification_start_page_and_a_pdf_verdict_fit(
    page: Page, visit: Visit, portal: LivePortal, downloaded_pdf: bytes
) -> None:
    def fits(step: str) -> None:
        visit.check(step)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= PHONE["width"], f"{step}: {wide} px wide on a {PHONE['width']} px screen"

    page.goto(f"{portal.url}/verify")
    fits("start")
    upload(page, portal, downloaded_pdf)
    expect(page.locator(".status")).to_have_text("✔ Hợp lệ")
    fits("pdf-valid")


@pytest.mark.browser_context_args(java_script_enabled=False)
def test_without_javascript_a_parent_signs_in_downloads_verifies_and_signs_out(
    page: Page, visit: Visit, portal: LivePortal
) -> None:
    records = portal.records
    sign_in(page, portal)
    visit.check("portal", axe=False)
    latest = year(page, "2024-2025")
    pdf = visit.pdf(latest.get_by_role("link", name=re.compile(r"\(PDF\)")))
    assert pdf == portal.published_pdf(records.current)
    visit.pdf(page.get_by_role("link", name="Sổ học bạ cấp Tiểu học (PDF)"))
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(f"{portal.url}/hoc-ba")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Digital school records of {NAME}")
    visit.check("portal-english", axe=False)
    page.get_by_role("link", name="View and verify").first.click()
    expect(page).to_have_url(f"{portal.url}/verify/{records.current}")
    page.goto(f"{portal.url}/hoc-ba")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{portal.url}/")
    response = page.goto(f"{portal.url}/hoc-ba")
    assert response is not None and response.status == 401
    visit.check("signed-out", axe=False)


@pytest.mark.browser_context_args(java_script_enabled=False)
def test_without_javascript_a_code_and_an_upload_are_verified(
    page: Page, visit: Visit, portal: LivePortal, downloaded_pdf: bytes
) -> None:
    records = portal.records
    page.goto(f"{portal.url}/")
    page.get_by_role("link", name="Mở trang xác minh học bạ").click()
    page.get_by_label(CODE_FIELD).fill(records.current.lower().replace("-", " "))
    page.get_by_role("button", name="Xác minh", exact=True).click()
    expect(page).to_have_url(f"{portal.url}/verify/{records.current}")
    expect(page.locator(".status")).to_have_text("✔ Hợp lệ")
    visit.check("by-code", axe=False)
    upload(page, portal, downloaded_pdf)
    expect(page.locator(".status")).to_have_text("✔ Hợp lệ")
    expect(page.get_by_role("main")).to_contain_text(SEAL_LINE)
    visit.check("pdf-valid", axe=False)
    upload(page, portal, flipped(downloaded_pdf))
    expect(page.locator(".status")).to_have_text("✘ Không hợp lệ")
    visit.check("pdf-tampered", axe=False)


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
