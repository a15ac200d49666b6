"""Token checks against the development issuer's published keys, and the policy table's rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hocba_devstack.testing import LocalInfra
from hocba_runtime.auth import (
    Access,
    Forbidden,
    PolicyTable,
    Resource,
    Role,
    SchoolSystems,
    TokenVerifier,
    Unauthenticated,
    allow,
)
from hocba_runtime.auth import Scope as S
from hocba_runtime.errors import NotFound
from hocba_runtime.settings import ServiceSettings

SYSTEMS = SchoolSystems({"vnedu-079": ["079-*"], "smas-q1": ["079-TH-NBK"]})


@pytest.fixture
def verifier(local_infra: LocalInfra) -> TokenVerifier:
    return TokenVerifier(ServiceSettings(**local_infra.settings()), SYSTEMS)


@pytest.mark.integration
async def test_a_good_token_names_the_caller_with_roles_school_and_staff_id(
    verifier: TokenVerifier, local_infra: LocalInfra
) -> None:
    token = local_infra.issuer.token(
        roles=["teacher", "offline_access"], school_id="079-TH-NBK", staff_id="GV1"
    )
    p = await verifier.principal(token)
    assert p.roles == {Role.TEACHER} and p.school_id == "079-TH-NBK" and p.staff_id == "GV1"
    assert p.in_school("079-TH-NBK") and not p.in_school("079-TH-KD")


@pytest.mark.integration
async def test_a_school_system_writes_for_the_schools_the_registry_gives_it(
    verifier: TokenVerifier, local_infra: LocalInfra
) -> None:
    p = await verifier.principal(
        local_infra.issuer.token(roles=["school_system"], client_id="vnedu-079")
    )
    assert p.in_school("079-TH-KD") and not p.in_school("001-TH-HN")
    unknown = await verifier.principal(
        local_infra.issuer.token(roles=["school_system"], client_id="nobody")
    )
    assert unknown.schools == () and not unknown.in_school("079-TH-KD")


BAD_TOKENS: dict[str, dict[str, Any]] = {
    "expired": {"ttl": -120},
    "not valid yet": {"nbf": int(time.time()) + 3600},
    "another audience": {"audience": "account"},
    "another issuer": {"issuer": "https://evil.example/realms/hocba"},
    "an ID token": {"typ": "ID"},
    "no subject": {"sub": None, "subject": None},
}


@pytest.mark.integration
@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_tokens_that_are_expired_early_elsewhere_or_of_the_wrong_kind_are_refused(
    verifier: TokenVerifier,
    local_infra: LocalInfra,
    case: str,
) -> None:
    kwargs = dict(BAD_TOKENS[case])
    if case == "no subject":
        token = local_infra.issuer.token(roles=["teacher"])
        claims = jwt.decode(token, options={"verify_signature": False})
        del claims["sub"]
        token = jwt.encode(
            claims,
            local_infra.issuer.key,
            algorithm="RS256",
            headers={"kid": local_infra.issuer.kid},
        )
    else:
        token = local_infra.issuer.token(roles=["teacher"], **kwargs)
    with pytest.raises(Unauthenticated):
        await verifier.principal(token)


@pytest.mark.integration
async def test_the_algorithm_is_pinned_and_only_the_issuers_keys_sign(
    verifier: TokenVerifier, local_infra: LocalInfra
) -> None:
    claims = jwt.decode(
        local_infra.issuer.token(roles=["auditor"]), options={"verify_signature": False}
    )
    unsigned = jwt.encode(claims, "", algorithm="none")  # "" is PyJWT's no key, as None is
    # HS256 with the issuer's public key as the "secret": the classic confusion attack (PyJWT will not
    # make such a token, so the test forges it).
    public_pem = local_infra.issuer.key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    confused = _forged(
        {"alg": "HS256", "typ": "JWT", "kid": local_infra.issuer.kid}, claims, public_pem
    )
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    foreign_key = jwt.encode(
        claims, stranger, algorithm="RS256", headers={"kid": local_infra.issuer.kid}
    )
    unknown_kid = jwt.encode(
        claims, stranger, algorithm="RS256", headers={"kid": "not-the-issuers"}
    )
    for token in (unsigned, confused, foreign_key, unknown_kid, "not.a.jwt", ""):
        with pytest.raises(Unauthenticated):
            await verifier.principal(token)
    assert (
        await verifier.principal(
            jwt.encode(
                claims,
                local_infra.issuer.key,
                algorithm="RS256",
                headers={"kid": local_infra.issuer.kid},
            )
        )
    ).roles == {Role.AUDITOR}


def _forged(header: dict[str, str], claims: dict[str, object], secret: bytes) -> str:
    def part(value: object) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    signing_input = part(header) + b"." + part(claims)
    signature = base64.urlsafe_b64encode(
        hmac.new(secret, signing_input, hashlib.sha256).digest()
    ).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


@pytest.mark.unit
def test_an_issuer_cannot_be_pinned_to_a_shared_secret_or_to_none() -> None:
    for algorithms in (["HS256"], ["none"], ["RS256", "HS512"]):
        with pytest.raises(ValueError, match="public-key algorithm"):
            TokenVerifier(
                ServiceSettings(environment="development", oidc_algorithms=algorithms), SYSTEMS
            )


# -- the rules -------------------------------------------------------------------------------------
def _access(
    rule_roles: dict[str, S],
    roles: set[str],
    school: str | None = "A",
    staff: str | None = "GV1",
    client: str | None = None,
    hide: dict[Role, set[str]] | None = None,
) -> Access:
    from hocba_runtime.auth import Principal

    rule = allow(personal=False, hide=hide, **rule_roles)
    schools = SYSTEMS.schools_of(client) if client else ((school,) if school else ())
    return Access(
        Principal("sub", frozenset(Role(r) for r in roles), client, school, staff, schools),
        rule,
        "GET /x",
    )


@pytest.mark.unit
def test_scopes_school_class_self_and_city() -> None:
    mine = Resource(
        school_id="A", class_id="1A", teachers=frozenset({"GV1"}), addressed_to=frozenset({"GV1"})
    )
    theirs = Resource(school_id="B", teachers=frozenset({"GV1"}), addressed_to=frozenset({"GV1"}))
    not_taught = Resource(
        school_id="A", teachers=frozenset({"GV2"}), addressed_to=frozenset({"GV2"})
    )
    assert _access({"teacher": S.CLASS}, {"teacher"}).allows(mine)
    assert not _access({"teacher": S.CLASS}, {"teacher"}).allows(theirs), (
        "same staff id, another school"
    )
    assert not _access({"teacher": S.CLASS}, {"teacher"}).allows(not_taught)
    assert not _access({"teacher": S.SELF}, {"teacher"}).allows(not_taught)
    assert _access({"principal": S.SCHOOL}, {"principal"}).allows(not_taught)
    assert not _access({"principal": S.SCHOOL}, {"principal"}).allows(theirs)
    assert _access({"operator": S.CITY}, {"operator"}, school=None, staff=None).allows(theirs)
    assert _access({"school_system": S.SCHOOL}, {"school_system"}, client="vnedu-079").allows(
        Resource(school_id="079-TH-KD")
    )
    assert not _access({"school_system": S.SCHOOL}, {"school_system"}, client="smas-q1").allows(
        Resource(school_id="079-TH-KD")
    )


@pytest.mark.unit
def test_require_says_404_for_nothing_and_403_for_another_schools_and_a_person_acts_only_as_themself() -> (
    None
):
    access = _access({"teacher": S.CLASS}, {"teacher"})
    with pytest.raises(NotFound, match="no such class"):
        access.require(None, missing="no such class")
    with pytest.raises(Forbidden, match="another school"):
        access.require(Resource(school_id="B"))
    assert access.denied == Resource(school_id="B")
    assert access.acting_as("GV1") == "GV1" and access.acting_as(None) == "GV1"
    with pytest.raises(Forbidden, match="you act as GV1"):
        access.acting_as("GV2")
    system = _access(
        {"school_system": S.SCHOOL}, {"school_system"}, school=None, staff=None, client="vnedu-079"
    )
    assert system.acting_as("GV7") == "GV7" and system.acting_as(None) == "vnedu-079"


@pytest.mark.unit
def test_a_field_is_hidden_only_when_every_admitted_role_of_the_caller_is_denied_it() -> None:
    data = {"full_name": "X", "citizen_id": "079218001234"}
    hide = {Role.TEACHER: {"citizen_id"}}
    assert _access({"teacher": S.CLASS, "principal": S.SCHOOL}, {"teacher"}, hide=hide).visible(
        data
    ) == {"full_name": "X"}
    both = _access({"teacher": S.CLASS, "principal": S.SCHOOL}, {"teacher", "principal"}, hide=hide)
    assert both.visible(data) == data


@pytest.mark.unit
def test_a_policy_table_names_the_routes_it_lacks() -> None:
    from fastapi import APIRouter, FastAPI

    router = APIRouter()

    @router.get("/covered/{x}")
    async def covered(x: str) -> None: ...

    @router.post("/forgotten")
    async def forgotten() -> None: ...

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    table = PolicyTable("t", {"GET /covered/{x}": allow(teacher=S.SCHOOL)})
    assert table.missing(app) == ["POST /forgotten"]
    assert "teacher: school" in table.table()


def test_the_route_found_is_the_one_a_scan_of_every_route_finds(tmp_path: Any) -> None:
    from fastapi import APIRouter, FastAPI
    from fastapi.routing import iter_route_contexts
    from fastapi.staticfiles import StaticFiles
    from hocba_runtime.auth import find_route
    from starlette.routing import Match

    app = FastAPI()
    router = APIRouter()

    async def endpoint() -> None:
        return None

    for method, path in [
        ("GET", "/verify"),
        ("GET", "/verify/{document_id}"),
        ("POST", "/verify/pdf"),
        ("GET", "/api/students/{student_id}/access-code"),
        ("POST", "/api/students/{student_id}/access-code"),
        ("GET", "/api/{kind}/latest"),
        ("GET", "/"),
    ]:
        router.add_api_route(path, endpoint, methods=[method])
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(tmp_path)), name="static")

    def scanned(scope: dict[str, Any]) -> Any:
        for route in iter_route_contexts(app.routes):
            match, child = route.matches(scope)
            if match is Match.FULL:
                return route, dict(child.get("path_params", {}))
        return None

    paths = [
        "/", "/verify", "/verify/", "/verify/HB-1", "/verify/pdf", "/verify/HB-1/x",
        "/api/students/HS-1/access-code", "/api/students/latest", "/api/students/latest/x",
        "/api/x/latest", "/apix/latest", "/nothing", "", "/static", "/static/a.css",
    ]  # fmt: skip
    for root in ("", "/lookup"):
        for method in ("GET", "POST", "DELETE"):
            for path in paths:
                scope = {"type": "http", "method": method, "path": root + path, "root_path": root}
                assert find_route(app, scope) == scanned(scope), (method, root, path)
    mounted = find_route(app, {"type": "http", "method": "GET", "path": "/static/a.css"})
    assert mounted is not None and mounted[0].path == "/static"
    found = find_route(app, {"type": "http", "method": "GET", "path": "/verify/HB-1"})
    assert found is not None and found[0].path == "/verify/{document_id}"
    assert found[1] == {"document_id": "HB-1"}
    # a route added later is found too
    router.add_api_route("/later/{x}", endpoint, methods=["GET"])
    app.include_router(router)
    later = find_route(app, {"type": "http", "method": "GET", "path": "/later/1"})
    assert later is not None and later[0].path == "/later/{x}"
