"""What every page of the lookup shares: the templates, the language (Vietnamese by default, English
on request), and dates and times in Vietnamese form and in Vietnam's time zone.

Language. A page's text is written in both languages in the template, `t("Tra cứu", "Look up")`,
so that a translation can never go missing or drift from its original. The reader chooses English
with the switch on every page (`GET /lang/en?next=/path`), which keeps the choice in a cookie (not
personal, so it may outlive a session); pages render in Vietnamese otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hocba_runtime.web import Csrf, csp_nonce
from jinja2 import Environment, PackageLoader, select_autoescape

router = APIRouter()
templates = Environment(
    loader=PackageLoader("hocba_lookup", "templates"), autoescape=select_autoescape(["html"])
)

VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")
LANG_COOKIE = "hocba_lang"
Lang = Literal["vi", "en"]


def language(request: Request) -> Lang:
    return "en" if request.cookies.get(LANG_COOKIE) == "en" else "vi"


def translator(lang: Lang) -> Callable[[str, str], str]:
    """`t(vi, en)`: the text in the page's language."""

    def t(vi: str, en: str) -> str:
        return en if lang == "en" else vi

    return t


def vn_time(at: datetime, lang: Lang = "vi") -> str:
    """A moment as a Vietnamese reader writes it, in Vietnam's time: `14:05 ngày 03/12/2026`."""
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(VIETNAM_TIME)
    if lang == "en":
        return f"{local:%H:%M} on {local:%d/%m/%Y} (Vietnam time)"
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def vn_date(day: date) -> str:
    return f"{day:%d/%m/%Y}"


def render(
    name: str, *, lang: Lang = "vi", nonce: str = "", here: str = "/", **context: Any
) -> str:
    """A template as HTML, with what every page needs: the CSP nonce of its styles, its language,
    `t(vi, en)`, `vn_time`, `vn_date`, and the path the language switch returns to."""
    return templates.get_template(name).render(
        nonce=nonce,
        lang=lang,
        t=translator(lang),
        vn_time=lambda at: vn_time(at, lang),
        vn_date=vn_date,
        here=here,
        **context,
    )


def page(
    request: Request,
    name: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    csrf: Csrf | None = None,
    here: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render a template for a request, in its reader's language. The language switch returns to
    `here`: by default a GET page's own path, else the front page (pass `here="/"` where the path
    holds something that must not be repeated in the page, like a PDF ticket)."""
    if here is None:
        here = request.url.path if request.method == "GET" else "/"
    response = HTMLResponse(
        render(name, lang=language(request), nonce=csp_nonce(request), here=here, **context),
        status_code=status,
        headers=headers,
    )
    if csrf is not None and cookies:
        csrf.set_cookies(response, cookies)
    return response


def _local_path(next_path: str) -> str:
    """Only a path of this site: never another origin (`//host`, `https://…`, `/\\host`)."""
    if not next_path.startswith("/") or next_path.startswith(("//", "/\\")) or len(next_path) > 200:
        return "/"
    return next_path


@router.get("/lang/{lang}", include_in_schema=False)
async def switch_language(request: Request, lang: Lang, next: str = "/") -> Response:  # noqa: A002 - the query's name
    response = RedirectResponse(_local_path(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        lang,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="lax",
        secure=request.app.state.runtime.settings.base_url.startswith("https://"),
        path="/",
    )
    return response
