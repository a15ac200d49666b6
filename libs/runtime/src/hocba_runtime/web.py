"""Web hygiene every service's HTTP app has: strict security headers on every response and CSRF
tokens for the HTML forms (the limit on request bodies is FastAPI's `max_body_size`). No CORS
middleware is installed: browsers give other sites' scripts no answer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DOCS_PATHS = ("/docs", "/redoc")
# The development API pages load Swagger UI from its CDN; nothing else may load anything from elsewhere.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def content_security_policy(nonce: str) -> str:
    """Nothing from elsewhere, no scripts, styles only from the page itself (with this response's
    nonce), forms only to this origin, never inside another site's frame."""
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def csp_nonce(request: Request) -> str:
    """The nonce a page's inline <style> carries (the security headers allow only it)."""
    return str(request.scope.get("state", {}).get("csp_nonce", ""))


class SecurityHeaders:
    """ASGI middleware: security headers on every response, and no server banner."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce
        path = scope.get("path", "")
        csp = DOCS_CSP if path.startswith(DOCS_PATHS) else content_security_policy(nonce)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                present = {k.lower() for k, _ in headers}
                wanted = {
                    b"content-security-policy": csp.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"x-frame-options": b"DENY",
                    b"referrer-policy": b"no-referrer",
                    b"cross-origin-opener-policy": b"same-origin",
                    b"cross-origin-resource-policy": b"same-origin",
                    b"permissions-policy": b"camera=(), microphone=(), geolocation=(), payment=()",
                    b"cache-control": b"no-store",
                }
                if self.hsts:
                    wanted[b"strict-transport-security"] = b"max-age=63072000; includeSubDomains"
                headers += [(k, v) for k, v in wanted.items() if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class Csrf:
    """CSRF protection for HTML forms (double submit, signed): the page sets a random cookie and puts
    its HMAC in a hidden field; a form post is accepted only when the two match. A site that is not
    ours can neither read the cookie nor compute the field."""

    cookie = "hocba_csrf"
    field = "csrf_token"

    def __init__(self, secret: bytes, *, secure: bool) -> None:
        self.secret = secret
        self.secure = secure

    def _sign(self, value: str) -> str:
        return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()

    def token(self, request: Request, response_cookies: dict[str, str]) -> str:
        """The hidden field's value for a page; sets the cookie (in `response_cookies`) if missing."""
        value = request.cookies.get(self.cookie)
        if not value or len(value) != 43:
            value = secrets.token_urlsafe(32)
            response_cookies[self.cookie] = value
        return self._sign(value)

    def set_cookies(self, response: Response, cookies: Mapping[str, str]) -> None:
        for name, value in cookies.items():
            response.set_cookie(
                name, value, httponly=True, samesite="strict", secure=self.secure, path="/"
            )

    def valid(self, request: Request, submitted: str | None) -> bool:
        value = request.cookies.get(self.cookie)
        return bool(value and submitted and hmac.compare_digest(self._sign(value), submitted))
