"""The development OIDC issuer: what Keycloak (docker-compose, deploy/keycloak) is in production,
small enough to start with the local stack and the tests. Development only: it hands a token for
any role to whoever asks on the loopback interface.

It publishes a discovery document and its keys (RS256, JWKS) as any OIDC issuer does, and issues
access tokens shaped as Keycloak's are (`realm_access.roles`, `azp`, `school_id`, `staff_id`,
`aud` = hocba):
- `grant_type=client_credentials` for registered clients (a Hocba service, a school system), with
  their secrets, as in production;
- `grant_type=urn:hocba:dev:persona` with `role`, `school_id`, `staff_id`: a token for any member
  of staff, operator or auditor (`make token ROLE=teacher SCHOOL=… STAFF=…`).

    python -m hocba_devstack.issuer --state var/issuer --port 8090 [--pki var/pki]

With `--pki`, the same process is the development CA (hocba_devstack.devca).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse

from hocba_devstack import devca
from hocba_devstack.devpki import DevPKI

AUDIENCE = "hocba"
PERSONA_GRANT = "urn:hocba:dev:persona"
ROLES = ("school_system", "teacher", "principal", "school_admin", "operator", "auditor", "service")


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class DevIssuer:
    """The issuer's key and clients, kept in `state_dir` so that tokens survive a restart."""

    def __init__(self, state_dir: Path, url: str) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.url = url.rstrip("/")
        key_file = self.dir / "signing-key.pem"
        if not key_file.exists():
            new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key_file.write_bytes(
                new.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            key_file.chmod(0o600)
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(
                f"{key_file} does not hold an RSA private key; delete it to make a new one"
            )
        self.key = key
        numbers = self.key.public_key().public_numbers()
        self.kid = hashlib.sha256(f"{numbers.n}:{numbers.e}".encode()).hexdigest()[:16]
        self._jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": _b64(numbers.n),
            "e": _b64(numbers.e),
        }

    # -- clients (client credentials) ------------------------------------------------------------
    @property
    def _clients_file(self) -> Path:
        return self.dir / "clients.json"

    def clients(self) -> dict[str, dict[str, Any]]:
        return (
            dict(json.loads(self._clients_file.read_text())) if self._clients_file.exists() else {}
        )

    def register_client(self, client_id: str, roles: list[str]) -> str:
        """Register (or keep) a confidential client; returns its secret."""
        clients = self.clients()
        if client_id not in clients or clients[client_id]["roles"] != roles:
            secret = clients.get(client_id, {}).get("secret") or secrets.token_urlsafe(32)
            clients[client_id] = {"secret": secret, "roles": roles}
            self._clients_file.write_text(json.dumps(clients, indent=2))
            self._clients_file.chmod(0o600)
        return str(clients[client_id]["secret"])

    # -- tokens ----------------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self._jwk]}

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks.json",
            "token_endpoint": f"{self.url}/token",
            "grant_types_supported": ["client_credentials", PERSONA_GRANT],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def token(
        self,
        *,
        roles: list[str] | tuple[str, ...],
        school_id: str | None = None,
        staff_id: str | None = None,
        client_id: str = "hocba-dev-portal",
        subject: str | None = None,
        ttl: int = 900,
        audience: str | list[str] = AUDIENCE,
        issuer: str | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """An access token as Keycloak would issue it. Tests pass odd values (an old `exp`, another
        `aud`) through the keyword arguments and `claims` to check that the services refuse them."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": issuer or self.url,
            "aud": audience,
            "sub": subject or str(uuid.uuid4()),
            "azp": client_id,
            "typ": "Bearer",
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            "realm_access": {"roles": list(roles)},
        }
        if school_id:
            payload["school_id"] = school_id
        if staff_id:
            payload["staff_id"] = staff_id
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, self.key, algorithm="RS256", headers={"kid": self.kid, **(headers or {})}
        )

    def persona(
        self, role: str, school_id: str | None = None, staff_id: str | None = None, ttl: int = 900
    ) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if role in ("teacher", "principal", "school_admin") and not (school_id and staff_id):
            raise ValueError(f"a {role} token needs a school and a staff id")
        if role == "school_system":
            raise ValueError(
                "a school system signs in with its client id and secret (client_credentials)"
            )
        return self.token(
            roles=[role],
            school_id=school_id,
            staff_id=staff_id,
            ttl=ttl,
            subject=f"{role}:{staff_id or uuid.uuid4().hex[:8]}",
        )

    def client_token(self, client_id: str, secret: str, ttl: int = 300) -> str:
        client = self.clients().get(client_id)
        if client is None or not secrets.compare_digest(str(client["secret"]), secret):
            raise PermissionError("unknown client or wrong secret")
        return self.token(
            roles=client["roles"],
            client_id=client_id,
            subject=f"service-account-{client_id}",
            ttl=ttl,
        )

    # -- HTTP ------------------------------------------------------------------------------------
    def app(self, pki: DevPKI | None = None) -> FastAPI:
        app = FastAPI(
            title="Hocba development issuer", docs_url=None, redoc_url=None, openapi_url=None
        )

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, Any]:
            return self.discovery()

        @app.get("/jwks.json")
        async def jwks() -> dict[str, Any]:
            return self.jwks()

        @app.post("/token")
        async def token(
            request: Request,
            grant_type: Annotated[str, Form()],
            client_id: Annotated[str | None, Form()] = None,
            client_secret: Annotated[str | None, Form()] = None,
            role: Annotated[str | None, Form()] = None,
            school_id: Annotated[str | None, Form()] = None,
            staff_id: Annotated[str | None, Form()] = None,
            ttl: Annotated[int, Form(ge=60, le=86_400)] = 900,
        ) -> JSONResponse:
            if grant_type == "client_credentials":
                auth = request.headers.get("authorization", "")
                if auth.lower().startswith("basic "):
                    client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
                try:
                    access = self.client_token(client_id or "", client_secret or "", min(ttl, 3600))
                except PermissionError:
                    return JSONResponse({"error": "invalid_client"}, status_code=401)
                lifetime = min(ttl, 3600)
            elif grant_type == PERSONA_GRANT:
                try:
                    access = self.persona(role or "", school_id, staff_id, ttl)
                except ValueError as exc:
                    return JSONResponse(
                        {"error": "invalid_request", "error_description": str(exc)}, status_code=400
                    )
                lifetime = ttl
            else:
                raise HTTPException(400, "unsupported grant_type")
            return JSONResponse(
                {"access_token": access, "token_type": "Bearer", "expires_in": lifetime},
                headers={"cache-control": "no-store"},
            )

        if pki is not None:
            devca.add_routes(app, pki)
        return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="hocba-dev-issuer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--pki", type=Path, help="serve the development CA of this development PKI")
    args = parser.parse_args(argv)
    issuer = DevIssuer(args.state, f"http://127.0.0.1:{args.port}")
    uvicorn.run(
        issuer.app(DevPKI(args.pki) if args.pki else None),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
