"""The parent portal (HTML, Vietnamese by default) and the parents' JSON API, behind a sign-in with
the personal ID number, the date of birth and the school's access code (`domain.access`).

Pages: `GET /` (the sign-in form), `POST /dang-nhap` (sign in), `GET /hoc-ba` (the student's
published years, results, versions, downloads), `POST /dang-xuat` (sign out), and the PDFs:
`GET /hoc-ba/pdf/{document_id}` (a year's sealed PDF) and `GET /hoc-ba/so/{level}` (the whole
book of a school level). JSON: `POST /api/session` (sign in), `DELETE /api/session` (sign out),
`GET /api/session/records` (what the portal page shows); the PDFs are the same URLs.

Session. The sign-in sets `hocba_session`: a random token, HttpOnly, SameSite=Strict, Secure when
the base URL is https, path `/`, no Max-Age (the browser forgets it when it closes); the server
keeps only its SHA-256 and ends it after 20 minutes idle, 2 hours at most, at sign-out and when
the school re-issues the code. JSON clients use the same cookie (a cookie jar): one mechanism, one
place where it is checked (`_signed_in`), and nothing a script could read.

CSRF. Every form post (sign in, sign out) carries the signed double-submit token of
`hocba_runtime.web.Csrf`. `POST /api/session` accepts only `Content-Type: application/json`: a
cross-site HTML form can send only form encodings or text/plain, and a cross-site script must pass
a CORS preflight that this service never grants; `DELETE` cannot be sent by a form at all; and the
session cookie is SameSite=Strict, so no other site's request carries it.

Uniform answers. A failed sign-in (unknown ID, wrong date of birth, wrong code, locked) is one
answer: 401, the same page (or JSON body) and the same work (`application.access`). Input that
cannot be a personal ID number, a date or a code is a 422 that says what to fix: it tells nothing
about any student. Too many attempts: 429 with Retry-After. The client address is the connection's
as the app sees it; behind a reverse proxy, set `HOCBA_LOOKUP_TRUSTED_PROXIES` to the proxy's address
(uvicorn's forwarded_allow_ips) so that the proxy's X-Forwarded-For is trusted (and nobody else's).

Nothing typed is ever written back into a page, a header, a URL or a log line.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from hocba_contracts.payloads.common import CitizenId, Code, SchoolLevel
from hocba_runtime.auth import Resource, current_access
from hocba_runtime.errors import DomainError
from hocba_runtime.web import Csrf
from pydantic import BaseModel, Field

from hocba_lookup.application.access import newest
from hocba_lookup.application.use_cases import LookupService
from hocba_lookup.domain.access import (
    SESSION_COOKIE,
    RateLimited,
    Session,
    SignedIn,
    SignInFailed,
    SignInInput,
    normalize_code,
)
from hocba_lookup.domain.model import PdfUnavailable, PublishedEntry
from hocba_lookup.entrypoints.deps import Forms, Parents, Pdfs, Service
from hocba_lookup.entrypoints.pages import language, page, translator
from hocba_lookup.entrypoints.views import RecordSummary, SubjectOut, summary

router = APIRouter()

FAILED_VI = (
    "Không đăng nhập được. Số định danh, ngày sinh và mã truy cập phải khớp với học bạ nhà trường "
    "đã công bố; sau nhiều lần sai, việc đăng nhập cho học sinh này tạm khóa 30 phút. Kiểm tra lại "
    "thông tin, hoặc liên hệ nhà trường để được cấp lại mã."
)
FAILED_EN = (
    "Sign-in failed. The personal ID number, the date of birth and the access code must match a "
    "record the school has published; after repeated failures, sign-in for this student pauses "
    "for 30 minutes. Check the details, or ask the school for a new code."
)
LIMITED_VI = "Quá nhiều lần thử đăng nhập. Hãy thử lại sau {minutes} phút."
LIMITED_EN = "Too many sign-in attempts. Try again in {minutes} minutes."
LEVELS: dict[str, tuple[str, str]] = {
    "primary": ("Tiểu học", "Primary school"),
    "lower_secondary": ("Trung học cơ sở", "Lower secondary school"),
    "upper_secondary": ("Trung học phổ thông", "Upper secondary school"),
}


class SignInFailedError(DomainError):
    status = 401
    code = "sign_in_failed"


class TooManyAttempts(DomainError):
    status = 429
    code = "too_many_attempts"


class NotSignedIn(DomainError):
    status = 401
    code = "not_signed_in"


# -- what the portal shows -----------------------------------------------------------------------
class VersionOut(RecordSummary):
    record_version: int
    subjects: list[SubjectOut]
    pdf_url: str | None = Field(
        description="The year's sealed PDF (with the session); null for a revoked version"
    )


class YearOut(BaseModel):
    school_year: str
    level: str
    current: VersionOut | None = Field(
        description="The version in force; null when every version was revoked"
    )
    versions: list[VersionOut] = Field(description="Every version, newest first")


class BookOut(BaseModel):
    level: str
    level_name: str
    pdf_url: str


class RecordsOut(BaseModel):
    student_name: str
    school_name: str
    session_expires_at: datetime
    years: list[YearOut] = Field(description="Newest school year first")
    books: list[BookOut] = Field(description="The whole record book of each school level")


def _level(e: PublishedEntry) -> str:
    return str(e.document.get("school", {}).get("level") or "")


async def records_out(
    request: Request, service: LookupService, session: Session, entries: list[PublishedEntry]
) -> RecordsOut:
    base = request.app.state.runtime.settings.base_url.rstrip("/")
    reasons = await service.superseded_reasons(entries)
    t = translator(language(request))
    years: dict[str, list[VersionOut]] = {}
    levels: dict[str, str] = {}
    for e in entries:
        v = VersionOut(
            **summary(request, e, reasons.get(e.document_id)).model_dump(),
            record_version=e.record_version,
            subjects=[SubjectOut.model_validate(s) for s in e.document.get("subjects", [])],
            pdf_url=None if e.revocation else f"{base}/hoc-ba/pdf/{e.document_id}",
        )
        years.setdefault(e.school_year, []).append(v)
        levels[e.school_year] = _level(e)
    first = entries[0].document
    return RecordsOut(
        student_name=first["student"]["full_name"],
        school_name=first["school"]["name"],
        session_expires_at=session.expires_at,
        years=[
            YearOut(
                school_year=year,
                level=levels[year],
                current=next((v for v in versions if v.status == "published"), None),
                versions=versions,
            )
            for year, versions in years.items()
        ],
        books=[
            BookOut(level=lv, level_name=t(*LEVELS[lv]), pdf_url=f"{base}/hoc-ba/so/{lv}")
            for lv in dict.fromkeys(levels.values())
            if lv in LEVELS
        ],
    )


# -- the session -----------------------------------------------------------------------------
def _secure(request: Request) -> bool:
    return bool(request.app.state.runtime.settings.base_url.startswith("https://"))


def _set_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )


def _clear_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )


def _touched(request: Request, session: Session) -> None:
    """The audit trail notes whose records the answer showed (or whose sign-in it was)."""
    current_access(request).touched(
        Resource(school_id=session.school_id, student_ids=(session.student_id,))
    )


async def _signed_in(request: Request, parents: Parents) -> Session:
    """The one check of a parent's session; 401 without one."""
    session = await parents.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise NotSignedIn("sign in with the personal ID number, date of birth and access code")
    _touched(request, session)
    return session


SignedInSession = Annotated[Session, Depends(_signed_in)]


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


# -- HTML ------------------------------------------------------------------------------------
def _form(
    request: Request,
    csrf: Csrf,
    status: int = 200,
    errors: dict[str, str] | None = None,
    failed: bool = False,
) -> HTMLResponse:
    """The sign-in form, always empty: what a parent typed is never written back into a page."""
    cookies: dict[str, str] = {}
    token = csrf.token(request, cookies)
    return page(
        request,
        "index.html",
        status=status,
        cookies=cookies,
        csrf=csrf,
        here="/",
        errors=errors or {},
        failed=failed,
        failed_vi=FAILED_VI,
        failed_en=FAILED_EN,
        csrf_field=csrf.field,
        csrf_token=token,
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def portal(request: Request, csrf: Forms) -> HTMLResponse:
    return _form(request, csrf)


def _parse_date(text: str) -> date | None:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


Said = tuple[str, str]
"""A text in Vietnamese and in English."""


def _message(
    request: Request,
    status: int,
    title: Said,
    text: Said,
    *,
    link: str | None = None,
    link_text: Said | None = None,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """A page that says one thing (message.html), in the reader's language; its language switch
    returns to the link's page."""
    t = translator(language(request))
    return page(
        request,
        "message.html",
        status=status,
        here=link or "/",
        headers=headers,
        title=t(*title),
        text=t(*text),
        link=link,
        link_text=None if link_text is None else t(*link_text),
    )


def _expired_form(request: Request) -> HTMLResponse:
    return _message(
        request,
        403,
        ("Biểu mẫu đã hết hạn", "The form has expired"),
        (
            "Biểu mẫu này không còn hiệu lực. Hãy tải lại trang đăng nhập rồi nhập lại thông tin.",
            "This form is no longer valid. Reload the sign-in page and enter the details again.",
        ),
        link_text=("Tải lại trang đăng nhập", "Reload the sign-in page"),
    )


def _minutes(wait: int) -> int:
    """A wait in seconds as the whole minutes a message says (at least one)."""
    return max(1, -(-wait // 60))


def _limited_page(request: Request, wait: int) -> HTMLResponse:
    minutes = _minutes(wait)
    return _message(
        request,
        429,
        ("Tạm dừng đăng nhập", "Sign-in paused"),
        (LIMITED_VI.format(minutes=minutes), LIMITED_EN.format(minutes=minutes)),
        headers={"retry-after": str(wait)},
    )


@router.post("/dang-nhap", response_class=HTMLResponse, include_in_schema=False)
async def sign_in_form(
    request: Request,
    parents: Parents,
    csrf: Forms,
    citizen_id: Annotated[str, Form()] = "",
    date_of_birth: Annotated[str, Form()] = "",
    access_code: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not csrf.valid(request, csrf_token):
        return _expired_form(request)
    t = translator(language(request))
    errors: dict[str, str] = {}
    cid = re.sub(r"[\s.]", "", citizen_id)
    if not re.fullmatch(r"\d{12}", cid):
        errors["citizen_id"] = t(
            "Số định danh cá nhân gồm đúng 12 chữ số (in trên căn cước hoặc giấy khai sinh).",
            "The personal ID number has exactly 12 digits (on the ID card or birth certificate).",
        )
    born = _parse_date(date_of_birth)
    if born is None:
        errors["date_of_birth"] = t(
            "Ngày sinh viết theo dạng ngày/tháng/năm (dd/mm/yyyy), năm đủ 4 chữ số.",
            "Write the date of birth as day/month/year (dd/mm/yyyy), with a 4-digit year.",
        )
    code = normalize_code(access_code)
    if code is None:
        errors["access_code"] = t(
            "Mã truy cập gồm 12 chữ và số, in trên giấy nhà trường gửi (dạng XXXX-XXXX-XXXX).",
            "The access code has 12 letters and digits, printed on the school's notice "
            "(XXXX-XXXX-XXXX).",
        )
    if errors or born is None or code is None:
        return _form(request, csrf, status=422, errors=errors)
    outcome = await parents.sign_in(SignInInput(cid, born, code), _client(request))
    if isinstance(outcome, RateLimited):
        return _limited_page(request, outcome.retry_after)
    if isinstance(outcome, SignInFailed):
        return _form(request, csrf, status=401, failed=True)
    _touched(request, outcome.session)
    response = RedirectResponse("/hoc-ba", status_code=303)
    _set_session(request, response, outcome.token)
    return response


def _signed_out_page(request: Request) -> HTMLResponse:
    return _message(
        request,
        401,
        ("Chưa đăng nhập", "Not signed in"),
        (
            "Phiên làm việc đã kết thúc hoặc chưa đăng nhập. Hãy đăng nhập lại bằng số định danh, "
            "ngày sinh và mã truy cập.",
            "The session has ended, or you have not signed in. Sign in again with the personal ID "
            "number, the date of birth and the access code.",
        ),
        link_text=("Đăng nhập", "Sign in"),
    )


@router.get("/hoc-ba", response_class=HTMLResponse, include_in_schema=False)
async def portal_records(
    request: Request, parents: Parents, service: Service, csrf: Forms
) -> HTMLResponse:
    try:
        session = await _signed_in(request, parents)
    except NotSignedIn:
        return _signed_out_page(request)
    entries = newest(await service.reader.by_student(session.student_id))
    if not entries:
        return _signed_out_page(request)
    cookies: dict[str, str] = {}
    token = csrf.token(request, cookies)
    return page(
        request,
        "results.html",
        cookies=cookies,
        csrf=csrf,
        r=await records_out(request, service, session, entries),
        csrf_field=csrf.field,
        csrf_token=token,
    )


@router.post("/dang-xuat", response_class=HTMLResponse, include_in_schema=False)
async def sign_out_form(
    request: Request,
    parents: Parents,
    csrf: Forms,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    if not csrf.valid(request, csrf_token):
        return _expired_form(request)
    await parents.sign_out(request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/", status_code=303)
    _clear_session(request, response)
    return response


# -- the PDFs (pages and API alike) ------------------------------------------------------------
PDF_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}},
    401: {"description": "No session: sign in first"},
    404: {"description": "No such published, unrevoked record of the signed-in student"},
    503: {"description": "Publishing cannot hand the PDF over now"},
}


def _pdf(content: bytes, name: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={"Cache-Control": "no-store", "Content-Disposition": f'inline; filename="{name}"'},
    )


BACK_TO_RECORDS = ("Về học bạ", "Back to the records")


def _pdf_refusal(request: Request, status: int) -> HTMLResponse:
    if status == 503:
        return _message(
            request,
            503,
            ("Tạm thời chưa tải được học bạ", "The record cannot be downloaded yet"),
            (
                "Hệ thống chưa lấy được tệp PDF của học bạ. Hãy thử lại sau ít phút.",
                "The record's PDF could not be fetched. Try again in a few minutes.",
            ),
            link="/hoc-ba",
            link_text=BACK_TO_RECORDS,
            headers={"retry-after": "30"},
        )
    return _message(
        request,
        404,
        ("Không có tệp này", "No such file"),
        (
            "Không có bản PDF này cho học sinh đã đăng nhập (học bạ đã bị thu hồi hoặc chưa được in).",
            "There is no such PDF for the signed-in student (the record was revoked or is not "
            "printed yet).",
        ),
        link="/hoc-ba",
        link_text=BACK_TO_RECORDS,
    )


@router.get(
    "/hoc-ba/pdf/{document_id}",
    tags=["parents"],
    response_class=Response,
    summary="A school year's sealed PDF, for the signed-in parent (recorded as an issued copy)",
    responses=PDF_RESPONSES,
)
async def year_pdf(
    document_id: Code,
    request: Request,
    parents: Parents,
    service: Service,
    pdfs: Pdfs,
) -> Response:
    try:
        session = await _signed_in(request, parents)
    except NotSignedIn:
        return _signed_out_page(request)
    entry = await service.reader.by_id(document_id)
    if entry is None or entry.student_id != session.student_id or entry.revocation is not None:
        return _pdf_refusal(request, 404)
    try:
        content = await pdfs.pdf(document_id)
    except PdfUnavailable:
        return _pdf_refusal(request, 503)
    if content is None:
        return _pdf_refusal(request, 404)
    await parents.record_copy(session, "year", [entry])
    return _pdf(content, f"{document_id}.pdf")


@router.get(
    "/hoc-ba/so/{level}",
    tags=["parents"],
    response_class=Response,
    summary="The whole record book of a school level, for the signed-in parent (recorded as an "
    "issued copy of every year's version printed in it)",
    responses=PDF_RESPONSES,
)
async def book_pdf(
    level: SchoolLevel,
    request: Request,
    parents: Parents,
    service: Service,
    pdfs: Pdfs,
) -> Response:
    try:
        session = await _signed_in(request, parents)
    except NotSignedIn:
        return _signed_out_page(request)
    try:
        book = await pdfs.book(session.student_id, level)
    except PdfUnavailable:
        return _pdf_refusal(request, 503)
    if book is None:
        return _pdf_refusal(request, 404)
    content, years = book
    entries = await service.reader.by_student(session.student_id)
    printed = [
        e
        for e in newest(entries)
        if e.school_year in years and e.revocation is None and e.superseded_by is None
    ]
    await parents.record_copy(session, "book", printed, level=level)
    return _pdf(content, f"hoc-ba-{level}.pdf")


# -- JSON ------------------------------------------------------------------------------------
class SignInIn(BaseModel):
    citizen_id: CitizenId
    date_of_birth: date = Field(description="YYYY-MM-DD")
    access_code: str = Field(
        min_length=12,
        max_length=40,
        description="As printed on the school's notice; case, spaces and dashes do not matter",
    )


class SessionOut(BaseModel):
    expires_at: datetime = Field(
        description="When the session lapses unless used (each request renews it, up to 2 hours)"
    )


def _json_only(request: Request) -> None:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedBody("send the sign-in as JSON (Content-Type: application/json)")


class UnsupportedBody(DomainError):
    status = 415
    code = "unsupported_media_type"


@router.post(
    "/api/session",
    response_model=SessionOut,
    tags=["parents"],
    summary="Sign in with the personal ID number, date of birth and access code; sets the session "
    "cookie (HttpOnly, SameSite=Strict) that the other parents' calls need",
    dependencies=[Depends(_json_only)],
    responses={
        401: {"description": "Sign-in failed (the same answer whatever the reason)"},
        415: {"description": "The body is not application/json"},
        429: {"description": "Too many attempts; Retry-After says when to try again"},
    },
)
async def api_sign_in(body: SignInIn, request: Request, parents: Parents) -> Response:
    code = normalize_code(body.access_code)
    if code is None:
        raise InvalidCode(
            "access_code: 12 letters and digits as printed on the notice (XXXX-XXXX-XXXX)"
        )
    outcome = await parents.sign_in(
        SignInInput(body.citizen_id, body.date_of_birth, code), _client(request)
    )
    if isinstance(outcome, RateLimited):
        minutes = _minutes(outcome.retry_after)
        raise TooManyAttempts(
            LIMITED_EN.format(minutes=minutes),
            message_vi=LIMITED_VI.format(minutes=minutes),
            headers={"retry-after": str(outcome.retry_after)},
        )
    if not isinstance(outcome, SignedIn):
        raise SignInFailedError(FAILED_EN, message_vi=FAILED_VI)
    _touched(request, outcome.session)
    response = JSONResponse(
        SessionOut(expires_at=outcome.session.expires_at).model_dump(mode="json")
    )
    _set_session(request, response, outcome.token)
    return response


class InvalidCode(DomainError):
    status = 422
    code = "invalid_request"


@router.delete(
    "/api/session", status_code=204, tags=["parents"], summary="Sign out: the session ends"
)
async def api_sign_out(request: Request, parents: Parents) -> Response:
    await parents.sign_out(request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=204)
    _clear_session(request, response)
    return response


@router.get(
    "/api/session/records",
    response_model=RecordsOut,
    tags=["parents"],
    summary="The signed-in student's published school years, results, every version (with the "
    "reason of each correction or revocation) and the PDFs to download",
)
async def api_records(request: Request, session: SignedInSession, service: Service) -> RecordsOut:
    entries = newest(await service.reader.by_student(session.student_id))
    if not entries:
        raise NotSignedIn("nothing is published for this session's student any more")
    return await records_out(request, service, session, entries)
