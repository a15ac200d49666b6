"""Who is calling, and whether they may: the one place where Hocba's services decide.

Identity. Every endpoint that is not public needs `Authorization: Bearer <access token>`: a JWT
from the configured OIDC issuer, verified by PyJWT against the issuer's published keys (JWKS) with
the algorithm pinned, and its `iss`, `aud`, `exp`, `iat`, `sub` (and `nbf`, when the issuer sets
it) checked. Roles are realm roles (`realm_access.roles`, as Keycloak issues them) or a flat
`roles` claim. A member of staff's token carries `school_id` and `staff_id`; a school system signs
in as an OIDC client (`azp` is its id, the same id it names as `source` on Kafka) and may write for
the schools the registry (`settings.school_systems`) gives it.

Authorization. Each service has one policy table, `"METHOD /path": Rule`, covering every route of
its app (the app refuses to start otherwise). The `AccessControl` middleware finds the route's
rule, authenticates the caller and checks the role before anything else runs, so an anonymous
caller gets 401 and a role the rule does not name gets 403, whatever the body holds. Where the rule
scopes a role to its own school, class or signatures, the handler resolves what the request
touches (a `Resource`) and calls `access.require(resource)`; the rule decides.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
import jwt
from fastapi import Request
from fastapi.routing import iter_route_contexts
from starlette._utils import get_route_path
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as ASGIScope

from hocba_runtime.errors import DomainError, NotFound
from hocba_runtime.settings import ServiceSettings

log = logging.getLogger("hocba.auth")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""The only algorithms an issuer's tokens may be pinned to: public-key signatures (never `none`, never
an HMAC whose key would have to be shared with every service)."""


class Role(StrEnum):
    SCHOOL_SYSTEM = "school_system"
    """A school's management software (VnEdu, SMAS, MISA EMIS…): writes its schools' data."""
    TEACHER = "teacher"
    PRINCIPAL = "principal"
    SCHOOL_ADMIN = "school_admin"
    OPERATOR = "operator"
    """The city department's operations staff: progress and errors, no personal data."""
    AUDITOR = "auditor"
    SERVICE = "service"
    """Another Hocba service calling on its own behalf (client credentials)."""


class Scope(StrEnum):
    CITY = "city"
    """Every school of the city."""
    SCHOOL = "school"
    """The caller's own school (a school system: the schools it is registered for)."""
    CLASS = "class"
    """A class of the caller's school that the caller teaches (homeroom or a subject)."""
    SELF = "self"
    """What is addressed to the caller: a signature request waiting for them, their own batch."""


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class IdentityUnavailable(DomainError):
    """The issuer's keys cannot be fetched: the caller may retry."""

    status = 503
    code = "identity_provider_unavailable"


# -- policies ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """One line of a policy table: which roles reach an endpoint and within which scope each."""

    roles: Mapping[Role, Scope] = field(default_factory=dict)
    public: bool = False
    personal: bool = False
    """The response carries a child's personal data: every read is written to the audit trail."""
    hidden: Mapping[Role, frozenset[str]] = field(default_factory=dict)
    """Fields of the response a role does not see (data minimization)."""

    def describe(self) -> str:
        if self.public:
            return "public; answers audited" if self.personal else "public"
        parts = [f"{role.value}: {scope.value}" for role, scope in self.roles.items()]
        if self.personal:
            parts.append("personal data, reads audited")
        return "; ".join(parts)


PUBLIC = Rule(public=True)
PUBLIC_PERSONAL = Rule(public=True, personal=True)
"""Open to anybody, but what it shows is a child's (a verification, a parent's lookup): every answer
is written to the audit trail, with the caller's address and what it showed."""
ANONYMOUS = "anonymous"


def allow(
    *, personal: bool = False, hide: Mapping[Role, Iterable[str]] | None = None, **roles: Scope
) -> Rule:
    """A rule: `allow(teacher=Scope.CLASS, principal=Scope.SCHOOL, personal=True)`."""
    return Rule(
        roles={Role(name): scope for name, scope in roles.items()},
        personal=personal,
        hidden={role: frozenset(fields) for role, fields in (hide or {}).items()},
    )


SHELL_POLICIES: dict[str, Rule] = {
    "GET /health/live": PUBLIC,
    "GET /health/ready": PUBLIC,
    "GET /audit/trail": allow(auditor=Scope.CITY),
    # Served in development only (settings.serve_docs).
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/oauth2-redirect": PUBLIC,
    "GET /redoc": PUBLIC,
}
"""The routes every service's shell adds, and who reaches them."""


class PolicyTable:
    """A service's endpoints and their rules, keyed `"METHOD /path"` with the route's own path."""

    def __init__(self, service: str, rules: Mapping[str, Rule]) -> None:
        self.service = service
        self.rules = {**SHELL_POLICIES, **rules}

    def rule(self, method: str, path: str) -> Rule | None:
        method = "GET" if method == "HEAD" else method
        return self.rules.get(f"{method} {path}")

    def endpoints(self, app: Any) -> list[str]:
        """Every `METHOD /path` the app serves."""
        out = []
        for route in iter_route_contexts(app.routes):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    out.append(f"{method} {route.path}")
        return out

    def missing(self, app: Any) -> list[str]:
        """Endpoints of the app that no rule covers (the app must not start with any)."""
        return [e for e in self.endpoints(app) if e not in self.rules]

    def table(self) -> str:
        """The policy table as a person reads it."""
        width = max(len(k) for k in self.rules)
        return "\n".join(
            f"{key:<{width}}  {rule.describe()}" for key, rule in sorted(self.rules.items())
        )


# -- who is calling --------------------------------------------------------------------------------
def _matches(pattern: str, school_id: str) -> bool:
    return school_id.startswith(pattern[:-1]) if pattern.endswith("*") else pattern == school_id


class SchoolSystems:
    """The registry of school systems: which schools each may write, over HTTP and on Kafka."""

    def __init__(self, systems: Mapping[str, Sequence[str]]) -> None:
        self.systems = {name: tuple(schools) for name, schools in systems.items()}

    def schools_of(self, system: str) -> tuple[str, ...]:
        return self.systems.get(system, ())

    def refusal(self, system: str, school_id: str | None) -> str | None:
        """Why `system` may not write for `school_id`, or None when it may."""
        if system not in self.systems:
            return (
                f"source {system!r} is not a registered school system: the city department registers each school "
                "system with the schools it serves before it may send"
            )
        if school_id is None:
            return "the event does not say which school it is for"
        if not any(_matches(p, school_id) for p in self.systems[system]):
            return f"school system {system!r} is not registered for school {school_id!r}; it may write only for its own schools"
        return None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    subject: str
    roles: frozenset[Role]
    client_id: str | None = None
    school_id: str | None = None
    staff_id: str | None = None
    schools: tuple[str, ...] = ()
    """School ids (or prefixes ending in *) the caller belongs to or, for a school system, serves."""

    @property
    def actor(self) -> str:
        """The id the caller acts under: a member of staff's id, else the client's, else the subject."""
        return self.staff_id or self.client_id or self.subject

    @property
    def is_person(self) -> bool:
        return bool(self.roles & {Role.TEACHER, Role.PRINCIPAL, Role.SCHOOL_ADMIN})

    def in_school(self, school_id: str | None) -> bool:
        return school_id is not None and any(_matches(p, school_id) for p in self.schools)


def principal_from_claims(claims: Mapping[str, Any], registry: SchoolSystems) -> Principal:
    names: set[str] = set()
    realm = claims.get("realm_access")
    if isinstance(realm, Mapping) and isinstance(realm.get("roles"), list):
        names.update(str(r) for r in realm["roles"])
    if isinstance(claims.get("roles"), list):
        names.update(str(r) for r in claims["roles"])
    roles = frozenset(Role(n) for n in names if n in Role._value2member_map_)
    client_id = claims.get("azp") or claims.get("client_id")
    school_id = claims.get("school_id")
    schools: tuple[str, ...] = ()
    if Role.SCHOOL_SYSTEM in roles and client_id:
        schools = registry.schools_of(str(client_id))
    elif school_id:
        schools = (str(school_id),)
    return Principal(
        subject=str(claims["sub"]),
        roles=roles,
        client_id=str(client_id) if client_id else None,
        school_id=str(school_id) if school_id else None,
        staff_id=str(claims["staff_id"]) if claims.get("staff_id") else None,
        schools=schools,
    )


class TokenVerifier:
    """Verifies OIDC access tokens against the issuer's JWKS, fetched over HTTP and cached: refreshed
    every `cache_seconds`, and at once (at most every `min_refetch_seconds`) for a key id it does not
    know, so an issuer can rotate its keys without a restart."""

    def __init__(
        self,
        settings: ServiceSettings,
        registry: SchoolSystems,
        *,
        cache_seconds: float = 600,
        min_refetch_seconds: float = 10,
    ) -> None:
        unsafe = set(settings.oidc_algorithms) - ASYMMETRIC_ALGORITHMS
        if unsafe:
            raise ValueError(
                f"oidc_algorithms: {', '.join(sorted(unsafe))} not accepted; pin a public-key algorithm "
                "such as RS256 or ES256"
            )
        self.issuer = settings.oidc_issuer
        self.audience = settings.oidc_audience
        self.algorithms = list(settings.oidc_algorithms)
        self.leeway = settings.oidc_leeway_seconds
        self.jwks_url = settings.oidc_jwks_url
        self.registry = registry
        self.cache_seconds = cache_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            if self.jwks_url is None:
                discovery = (
                    await http.get(
                        f"{str(self.issuer).rstrip('/')}/.well-known/openid-configuration"
                    )
                ).json()
                if discovery.get("issuer") != self.issuer:
                    raise IdentityUnavailable(
                        "the issuer's discovery document names another issuer; check OIDC_ISSUER"
                    )
                self.jwks_url = str(discovery["jwks_uri"])
            response = await http.get(self.jwks_url)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        self._keys = {
            str(k.key_id): k for k in keys if k.key_id and (k.public_key_use in (None, "sig"))
        }
        self._fetched_at = time.monotonic()

    async def _key(self, kid: str) -> jwt.PyJWK | None:
        age = time.monotonic() - self._fetched_at
        if kid not in self._keys or age > self.cache_seconds:
            async with self._lock:
                age = time.monotonic() - self._fetched_at
                if (
                    kid not in self._keys and age > self.min_refetch_seconds
                ) or age > self.cache_seconds:
                    try:
                        await self._fetch()
                    except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWKError) as exc:
                        log.error(
                            "the issuer's keys could not be fetched",
                            extra={"error_type": type(exc).__name__},
                        )
                        if not self._keys:
                            raise IdentityUnavailable(
                                "the identity provider cannot be reached; try again shortly"
                            ) from None
        return self._keys.get(kid)

    async def principal(self, token: str) -> Principal:
        if self.issuer is None:
            raise Unauthenticated(
                "this service has no token issuer configured (OIDC_ISSUER), so it accepts no token"
            )
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        if header.get("alg") not in self.algorithms:
            raise Unauthenticated(f"tokens must be signed with {', '.join(self.algorithms)}")
        key = await self._key(str(header.get("kid", "")))
        if key is None:
            raise Unauthenticated("the token was not signed by a key of the issuer")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired; get a new one") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(
                f"the token is not meant for Hocba (aud must include {self.audience!r})"
            ) from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token comes from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the token's signature or claims do not verify") from None
        if str(claims.get("typ", "Bearer")).lower() not in ("bearer", "at+jwt"):
            raise Unauthenticated("send an access token, not an ID or refresh token")
        return principal_from_claims(claims, self.registry)


# -- what a request touches, and the checks ---------------------------------------------------------
@dataclass(frozen=True)
class Resource:
    """What a request touches, as far as the scope checks (and the audit trail) need it."""

    school_id: str | None
    class_id: str | None = None
    student_ids: tuple[str, ...] = ()
    record_id: str | None = None
    teachers: frozenset[str] = frozenset()
    """Who teaches the class: the homeroom teacher and the subject teachers (Scope.CLASS)."""
    addressed_to: frozenset[str] = frozenset()
    """Whom it waits for or belongs to: a request's signers, a batch's signer (Scope.SELF)."""


class Access:
    """A request that passed authentication and the role check; the handler asks it the rest."""

    def __init__(
        self, principal: Principal, rule: Rule, endpoint: str, client: str | None = None
    ) -> None:
        self.principal = principal
        self.rule = rule
        self.endpoint = endpoint
        self.client = client
        self.resources: list[Resource] = []
        self.denied: Resource | None = None

    @property
    def roles(self) -> frozenset[Role]:
        """The caller's roles that this endpoint admits."""
        return frozenset(r for r in self.principal.roles if r in self.rule.roles)

    def _within(self, role: Role, resource: Resource) -> bool:
        p = self.principal
        scope = self.rule.roles[role]
        if scope is Scope.CITY:
            return True
        if not p.in_school(resource.school_id):
            return False
        if scope is Scope.SCHOOL:
            return True
        if scope is Scope.CLASS:
            return p.staff_id is not None and p.staff_id in resource.teachers
        return p.staff_id is not None and p.staff_id in resource.addressed_to

    def allows(self, resource: Resource) -> bool:
        return any(self._within(role, resource) for role in self.roles)

    def require(self, resource: Resource | None, *, missing: str = "not found") -> Resource:
        """The resource, if the caller's scope covers it; 404 when it does not exist, 403 when it is
        another school's, class's or signer's."""
        if resource is None:
            raise NotFound(missing)
        if not self.allows(resource):
            self.denied = resource
            raise Forbidden(self._refusal(resource))
        self.resources.append(resource)
        return resource

    def touched(self, resource: Resource) -> None:
        """Note, for the audit trail, what a public answer showed (no check: the rule is public)."""
        self.resources.append(resource)

    def require_all(self, resources: Iterable[Resource]) -> None:
        for resource in resources:
            self.require(resource)

    def _refusal(self, resource: Resource) -> str:
        scopes = {self.rule.roles[r] for r in self.roles}
        if not self.principal.in_school(resource.school_id) and Scope.CITY not in scopes:
            return "this belongs to another school; you may act only for your own school"
        if Scope.SELF in scopes:
            return "this is not addressed to you"
        return "you do not teach this class"

    def acting_as(self, claimed: str | None) -> str:
        """Whose name an action goes under. A member of staff acts as themself only; a school
        system acts for the member of staff it names (its own id if it names nobody)."""
        p = self.principal
        if p.is_person:
            if claimed is not None and claimed != p.staff_id:
                raise Forbidden(f"you act as {p.staff_id}; a request cannot name someone else")
            return p.actor
        return claimed or p.actor

    def visible(self, data: dict[str, Any]) -> dict[str, Any]:
        """`data` without the fields every admitted role of the caller is denied."""
        hidden: frozenset[str] | None = None
        for role in self.roles:
            fields = self.rule.hidden.get(role, frozenset())
            hidden = fields if hidden is None else hidden & fields
        return {k: v for k, v in data.items() if k not in (hidden or frozenset())}


def current_access(request: Request) -> Access:
    """FastAPI dependency: the request's `Access` (set by the middleware)."""
    access = getattr(request.state, "access", None)
    if not isinstance(access, Access):
        raise Forbidden("this endpoint has no policy that admits callers")
    return access


# -- the middleware ----------------------------------------------------------------------------------
_ROUTES: weakref.WeakKeyDictionary[Any, tuple[int, list[tuple[str, bool, Any]]]] = (
    weakref.WeakKeyDictionary()
)
"""Per app: how many routes it had, and each route with the literal text its path template starts
with (all of it when it has no parameter)."""


def _routes(app: Any) -> list[tuple[str, bool, Any]]:
    routes = getattr(app, "routes", ())
    kept = _ROUTES.get(app)
    if kept is None or kept[0] != len(routes):
        listed: list[tuple[str, bool, Any]] = []
        for route in iter_route_contexts(routes):
            path = getattr(route, "path", None)
            if isinstance(path, str) and path.startswith("/"):
                literal, brace, _ = path.partition("{")
                # a mount matches what lies under its path too: never the whole path only
                listed.append((literal, not brace and isinstance(route, Route), route))
            else:  # matched as it says (a route of another kind)
                listed.append(("", False, route))
        kept = (len(routes), listed)
        _ROUTES[app] = kept
    return kept[1]


def find_route(app: Any, scope: ASGIScope) -> tuple[Any, dict[str, Any]] | None:
    """The route a request is for (its `.path` is the template) and its path parameters; None when
    no route matches both method and path. Routes are tried in their order, each only when the
    request's path starts with its template's literal text (a route's pattern never matches
    another path: the cheap test spares most requests most of the patterns)."""
    path = get_route_path(scope)  # as the routes match it (without the root path)
    for literal, exact, route in _routes(app):
        if (path != literal) if exact else not path.startswith(literal):
            continue
        match, child = route.matches(scope)
        if match is Match.FULL:
            return route, dict(child.get("path_params", {}))
    return None


def route_of(scope: ASGIScope) -> tuple[Any, dict[str, Any]] | None:
    """`find_route` for this request, found once and kept in its scope for the middlewares after."""
    if "hocba.route" not in scope:
        scope["hocba.route"] = find_route(scope.get("app"), scope)
    found: tuple[Any, dict[str, Any]] | None = scope["hocba.route"]
    return found


AuditHook = Callable[[Access | None, str, str, dict[str, Any], int, str | None], Awaitable[None]]
"""audit(access, method, route path, path params, status, client address)."""


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    body = json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    return status, body, raw


class AccessControl:
    """ASGI middleware: every request meets its route's rule before the app reads its body."""

    def __init__(
        self, app: ASGIApp, policies: PolicyTable, verifier: TokenVerifier, audit: AuditHook | None
    ) -> None:
        self.app = app
        self.policies = policies
        self.verifier = verifier
        self.audit = audit

    async def _refuse(
        self,
        send: Send,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        status, body, raw = _error(status, code, message, headers)
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = route_of(scope)
        if found is None:  # 404 or 405: nothing is served
            await self.app(scope, receive, send)
            return
        route, path_params = found
        method = scope["method"]
        rule = self.policies.rule(method, route.path)
        if rule is None:
            log.error(
                "endpoint without a policy refused", extra={"endpoint": f"{method} {route.path}"}
            )
            await self._refuse(
                send, 403, "no_policy", "this endpoint has no access policy, so nobody may call it"
            )
            return
        client = scope.get("client")
        address = client[0] if client else None
        if rule.public:
            if not rule.personal:
                await self.app(scope, receive, send)
                return
            access = Access(
                Principal(ANONYMOUS, frozenset()), rule, f"{method} {route.path}", address
            )
            await self._serve(
                access, scope, receive, send, method, route.path, path_params, address
            )
            return
        token = _bearer(scope)
        challenge = {"www-authenticate": 'Bearer realm="hocba"'}
        if token is None:
            await self._refuse(
                send,
                401,
                "unauthenticated",
                "sign in: send an access token as 'Authorization: Bearer <token>'",
                challenge,
            )
            return
        try:
            principal = await self.verifier.principal(token)
        except Unauthenticated as exc:
            await self._refuse(
                send,
                401,
                exc.code,
                exc.message,
                {"www-authenticate": 'Bearer realm="hocba", error="invalid_token"'},
            )
            return
        except IdentityUnavailable as exc:
            await self._refuse(send, 503, exc.code, exc.message, {"retry-after": "5"})
            return
        access = Access(principal, rule, f"{method} {route.path}", address)
        if not access.roles:
            await self._refuse(send, 403, "forbidden", "your role may not use this endpoint")
            if self.audit is not None:
                await self.audit(access, method, route.path, path_params, 403, address)
            return
        await self._serve(access, scope, receive, send, method, route.path, path_params, address)

    async def _serve(
        self,
        access: Access,
        scope: ASGIScope,
        receive: Receive,
        send: Send,
        method: str,
        path: str,
        path_params: dict[str, Any],
        address: str | None,
    ) -> None:
        """Run the app with `access` on the request; then audit a change, a personal read or a refusal."""
        scope.setdefault("state", {})["access"] = access
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            audited = method not in SAFE_METHODS or access.rule.personal or status == 403
            if self.audit is not None and audited and (status < 400 or status == 403):
                await self.audit(access, method, path, path_params, status, address)


def _bearer(scope: ASGIScope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            kind, _, token = bytes(value).decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token.strip():
                return token.strip()
    return None
