"""docker-compose.yml cannot run on this machine; this checks that what it names exists in code
(every service, Dockerfile, port, command and HOCBA_* setting) and that the deployment is locked
down: Keycloak with the realm the services expect, every service in production with OIDC, Kafka
that authenticates every client and authorizes by ACL, and no secret written in any file."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hocba_contracts.topics import TOPICS, dead_letter_topic
from hocba_runtime.auth import Role
from hocba_runtime.settings import ServiceSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("records", "assessment", "signing", "publishing", "lookup")
INGEST_WRITERS = ("records", "assessment")
"""The services that consume ingest topics and so need the school-system registry."""
PLACEHOLDER = "set-by-the-operator-in-dot-env"
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(:[-?])?([^}]*)\}")
REQUIRED = re.compile(r"\$\{[A-Z0-9_]+:\?[^}]+\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_PIN\b")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def realm() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEPLOY / "keycloak" / "hocba-realm.json").read_text())
    return loaded


def env_example() -> dict[str, str]:
    """deploy/env.example, the .env an operator fills in: name → value ('' when left to fill)."""
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        match = re.fullmatch(r"#?\s*([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match:
            values[match[1]] = match[2].strip().strip("'\"")
    return values


def kafka_properties() -> dict[str, str]:
    lines = (DEPLOY / "kafka" / "server.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"hocba_{service}.config")
    found = [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, ServiceSettings) and c is not ServiceSettings
    ]
    assert len(found) == 1, f"hocba_{service}.config should define one settings class"
    return found[0]


def resolve(value: str) -> str:
    """Compose interpolation as an operator's .env would fill it: the default, the example's value,
    or a placeholder secret."""
    example = env_example()

    def fill(match: re.Match[str]) -> str:
        name, kind, rest = match[1], match[2], match[3]
        if kind == ":-":
            return rest
        return example.get(name) or PLACEHOLDER

    return INTERPOLATION.sub(fill, value)


def gen_acls() -> ModuleType:
    """deploy/kafka/gen_acls.py, a script rather than a package module."""
    if "hocba_deploy_gen_acls" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "hocba_deploy_gen_acls", DEPLOY / "kafka" / "gen_acls.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules["hocba_deploy_gen_acls"]


def test_all_five_services_and_the_infrastructure_are_there(compose: dict[str, Any]) -> None:
    names = set(compose["services"])
    assert set(SERVICES) <= names
    assert {
        "kafka",
        "kafka-acls",
        "kafka-topics",
        "mongo",
        "otel-collector",
        "keycloak",
        "keycloak-db",
    } <= names
    assert "controller" in kafka_properties()["process.roles"], "Kafka must run in KRaft mode"
    assert "--replSet" in compose["services"]["mongo"]["command"], (
        "MongoDB must be a replica set (transactions)"
    )


def test_images_are_pinned_and_everything_long_running_has_a_health_check(
    compose: dict[str, Any],
) -> None:
    for name, svc in compose["services"].items():
        image = svc.get("image", "")
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image) and not image.endswith(":latest"), (
            f"{name}: pin the image ({image!r})"
        )
        if svc.get("restart") != "no":
            assert "healthcheck" in svc or name == "otel-collector", f"{name}: add a healthcheck"


@pytest.mark.parametrize("service", SERVICES)
def test_service_build_port_and_settings_exist_in_code(
    compose: dict[str, Any], service: str
) -> None:
    svc = compose["services"][service]
    dockerfile = ROOT / svc["build"]["dockerfile"]
    assert dockerfile.exists()
    text = dockerfile.read_text()
    assert f'"-m", "hocba_{service}"' in text, "the image must start the service module"
    importlib.import_module(f"hocba_{service}.__main__")

    cls = settings_class(service)
    prefix = f"HOCBA_{service.upper()}_"
    env = {k: resolve(str(v)) for k, v in svc["environment"].items()}
    for key in env:
        assert key.startswith(prefix), f"{service}: {key} is not one of this service's settings"
        assert key[len(prefix) :].lower() in cls.model_fields, (
            f"{service}: {key} names no setting of {cls.__name__}"
        )
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        settings = cls()  # values must parse, and pass the production checks
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert settings.production
    port = settings.http_port
    assert port == cls.model_fields["http_port"].default, (
        "compose must use the service's documented port"
    )
    assert f"{port}:{port}" in svc["ports"]
    assert f"EXPOSE {port}" in text
    assert str(port) in str(svc["healthcheck"]["test"])
    for volume in svc.get("volumes", []):
        assert (ROOT / volume.split(":")[0]).exists(), f"{service}: mounted {volume} is missing"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_in_production_behind_keycloak_on_authenticated_kafka(
    compose: dict[str, Any], realm: dict[str, Any], service: str
) -> None:
    env = {k: str(v) for k, v in compose["services"][service]["environment"].items()}
    kc = compose["services"]["keycloak"]["environment"]
    p = f"HOCBA_{service.upper()}_"
    assert env[p + "ENVIRONMENT"] == "production"
    issuer_base = kc["KC_HOSTNAME"].split(":?")[0] + ":?"
    assert env[p + "OIDC_ISSUER"].startswith(issuer_base) and env[p + "OIDC_ISSUER"].endswith(
        f"}}/realms/{realm['realm']}"
    ), "the issuer must be Keycloak's one public URL (KC_HOSTNAME) and the realm"
    assert env[p + "OIDC_AUDIENCE"] == "hocba"
    assert (
        env[p + "OIDC_JWKS_URL"]
        == f"http://keycloak:8080/realms/{realm['realm']}/protocol/openid-connect/certs"
    )
    assert env[p + "KAFKA_SECURITY_PROTOCOL"].startswith("SASL_")
    assert env[p + "KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env[p + "KAFKA_SASL_USERNAME"] == f"hocba-{service}"
    assert env[p + "KAFKA_SASL_PASSWORD"].startswith(f"${{KAFKA_{service.upper()}_PASSWORD:?")
    assert (p + "SCHOOL_SYSTEMS" in env) == (service in INGEST_WRITERS)
    if service in INGEST_WRITERS:
        assert (
            REQUIRED.fullmatch(env[p + "SCHOOL_SYSTEMS"])
            and "HOCBA_SCHOOL_SYSTEMS" in env[p + "SCHOOL_SYSTEMS"]
        )
    assert set(compose["services"][service]["depends_on"]) >= {"keycloak", "kafka-topics"}


def test_lookup_and_publishing_get_their_clients_and_secrets(compose: dict[str, Any]) -> None:
    lookup = compose["services"]["lookup"]["environment"]
    assert lookup["HOCBA_LOOKUP_OIDC_CLIENT_ID"] == "hocba-lookup"
    assert REQUIRED.fullmatch(lookup["HOCBA_LOOKUP_OIDC_CLIENT_SECRET"])
    assert lookup["HOCBA_LOOKUP_PUBLISHING_URL"] == "http://publishing:8104"
    assert REQUIRED.fullmatch(lookup["HOCBA_LOOKUP_LOOKUP_SECRET"])
    assert not {"HOCBA_LOOKUP_ALLOW_DEV_SECRET", "HOCBA_LOOKUP_PUBLISHING_PUBLIC_URL"} & set(lookup)
    kc = compose["services"]["keycloak"]["environment"]
    assert (
        lookup["HOCBA_LOOKUP_OIDC_CLIENT_SECRET"].split(":?")[0]
        == kc["HOCBA_LOOKUP_CLIENT_SECRET"].split(":?")[0]
    ), "the lookup and Keycloak must read the lookup's client secret from the same variable"
    publishing = compose["services"]["publishing"]["environment"]
    assert REQUIRED.fullmatch(publishing["HOCBA_PUBLISHING_DOCUMENT_ID_SECRET"])


def test_keycloak_runs_in_production_mode_on_its_own_database_and_imports_the_realm(
    compose: dict[str, Any],
) -> None:
    kc = compose["services"]["keycloak"]
    assert kc["image"].startswith("quay.io/keycloak/keycloak:26.")
    assert kc["command"] == ["start", "--import-realm"], (
        "production mode (start, not start-dev), importing the realm"
    )
    env = kc["environment"]
    assert env["KC_DB"] == "postgres"
    db_host = re.fullmatch(r"jdbc:postgresql://([\w-]+):5432/keycloak", env["KC_DB_URL"])
    assert db_host, "Keycloak's own PostgreSQL"
    db = compose["services"][db_host[1]]
    assert db["image"].startswith("postgres:") and "healthcheck" in db
    assert kc["depends_on"][db_host[1]]["condition"] == "service_healthy"
    assert (
        REQUIRED.fullmatch(env["KC_HOSTNAME"]) and env["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "false"
    ), "one issuer URL: tokens name KC_HOSTNAME whichever way Keycloak was reached"
    assert env["KC_HEALTH_ENABLED"] == "true" and "/health/ready" in str(kc["healthcheck"]["test"])
    assert "./deploy/keycloak:/opt/keycloak/data/import:ro" in kc["volumes"]
    assert [p.name for p in (DEPLOY / "keycloak").iterdir()] == ["hocba-realm.json"], (
        "Keycloak imports every .json in its import directory: keep only the realm there"
    )


def test_the_realm_holds_the_seven_roles(realm: dict[str, Any]) -> None:
    assert realm["realm"] == "hocba" and realm["enabled"]
    assert {r["name"] for r in realm["roles"]["realm"]} == {r.value for r in Role}
    assert not realm["registrationAllowed"], "staff accounts are made by the realm's administrators"


def _scope(realm: dict[str, Any], name: str) -> dict[str, Any]:
    scopes: list[dict[str, Any]] = [s for s in realm["clientScopes"] if s["name"] == name]
    [scope] = scopes
    return scope


def _mappers(realm: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (s["name"], m)
        for s in realm["clientScopes"]
        for m in s.get("protocolMappers", [])
        if m["protocolMapper"] == kind
    ]


def test_access_tokens_name_hocba_the_realm_roles_and_the_staff_attributes(
    realm: dict[str, Any],
) -> None:
    [(audience_scope, audience)] = _mappers(realm, "oidc-audience-mapper")
    assert audience["config"]["included.custom.audience"] == "hocba"
    assert audience["config"]["access.token.claim"] == "true"
    defaults = set(realm["defaultDefaultClientScopes"])
    assert audience_scope in defaults, "the audience mapper must be in a default client scope"
    [(roles_scope, roles)] = _mappers(realm, "oidc-usermodel-realm-role-mapper")
    assert (
        roles["config"]["claim.name"] == "realm_access.roles"
        and roles["config"]["multivalued"] == "true"
    )
    [(sub_scope, _)] = _mappers(realm, "oidc-sub-mapper")
    assert {roles_scope, sub_scope} <= defaults, "every token needs sub and realm_access.roles"
    attributes = {
        m["config"]["user.attribute"]: (scope, m["config"])
        for scope, m in _mappers(realm, "oidc-usermodel-attribute-mapper")
        if m["config"]["user.attribute"] in ("school_id", "staff_id")
    }
    assert set(attributes) == {"school_id", "staff_id"}
    for name, (scope, config) in attributes.items():
        assert (
            config["claim.name"] == name
            and config["access.token.claim"] == "true"
            and scope in defaults
        )
    for client in realm["clients"]:
        assert {audience_scope, roles_scope, sub_scope} <= set(client["defaultClientScopes"]), (
            client["clientId"]
        )


def test_only_an_administrator_sets_a_member_of_staffs_school_and_staff_id(
    realm: dict[str, Any],
) -> None:
    [provider] = realm["components"]["org.keycloak.userprofile.UserProfileProvider"]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    declared = {a["name"]: a for a in profile["attributes"]}
    for name in ("school_id", "staff_id"):
        assert declared[name]["permissions"]["edit"] == ["admin"], (
            f"a user must not change their own {name}"
        )
    assert profile.get("unmanagedAttributePolicy") in (None, "ADMIN_VIEW"), (
        "no attribute a user can set freely"
    )


def test_the_realm_has_the_lookup_a_school_system_and_the_staff_clients(
    realm: dict[str, Any],
) -> None:
    clients = {c["clientId"]: c for c in realm["clients"]}
    service_roles = {
        u["serviceAccountClientId"]: set(u["realmRoles"])
        for u in realm["users"]
        if "serviceAccountClientId" in u
    }
    lookup = clients["hocba-lookup"]
    assert (
        not lookup["publicClient"]
        and lookup["serviceAccountsEnabled"]
        and service_roles["hocba-lookup"] == {"service"}
    )
    systems = [c for c, roles in service_roles.items() if roles == {"school_system"}]
    assert systems, "an example school-system client"
    registered = json.loads(env_example()["HOCBA_SCHOOL_SYSTEMS"])
    for client_id in systems:
        client = clients[client_id]
        assert not client["publicClient"] and client["serviceAccountsEnabled"]
        assert not client["standardFlowEnabled"] and not client["directAccessGrantsEnabled"]
        assert client_id in registered, (
            "the example .env must register the example school system's schools"
        )
    [staff] = [c for c in realm["clients"] if c["publicClient"]]
    assert (
        staff["standardFlowEnabled"] and staff["attributes"]["pkce.code.challenge.method"] == "S256"
    )
    assert not staff["implicitFlowEnabled"] and not staff["directAccessGrantsEnabled"]
    assert not staff.get("serviceAccountsEnabled") and "*" not in staff["redirectUris"]


def test_no_secret_value_is_written_in_compose_the_realm_or_the_kafka_files(
    compose: dict[str, Any], realm: dict[str, Any]
) -> None:
    for name, svc in compose["services"].items():
        for key, value in svc.get("environment", {}).items():
            if SECRET_NAME.search(key):
                assert REQUIRED.fullmatch(str(value)), (
                    f"{name}: {key} must come from .env as ${{VAR:?message}}"
                )

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                assert key.lower() not in ("password", "credentials", "value"), (
                    f"realm {path}.{key}: no credentials"
                )
                if key == "secret":
                    assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", value), (
                        f"realm {path}: a client secret comes from ${{VAR}}"
                    )
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(realm, "")
    placeholders = set(
        re.findall(r"\$\{([A-Z0-9_]+)\}", (DEPLOY / "keycloak" / "hocba-realm.json").read_text())
    )
    assert placeholders <= set(compose["services"]["keycloak"]["environment"]), (
        "Keycloak must have every variable the realm file names"
    )
    example = env_example()
    for key, value in example.items():
        if SECRET_NAME.search(key) and key != "KEYCLOAK_ADMIN_USERNAME":
            assert value == "", f"deploy/env.example: leave {key} empty for the operator to fill"
    for path in (DEPLOY / "kafka").glob("*"):
        if path.is_file():
            assert not re.search(r"password=\"?(?![%$])[A-Za-z0-9_-]{6,}", path.read_text()), (
                f"{path.name} holds a password"
            )


def test_every_variable_compose_needs_is_in_the_example_env() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = {m[1]: m[2] for m in INTERPOLATION.finditer(text)}
    assert all(kind in (":-", ":?") for kind in used.values()), (
        "every variable has a default (:-) or fails fast (:?)"
    )
    example = env_example()
    missing = sorted(set(used) - set(example))
    assert not missing, f"deploy/env.example must list {missing}"
    assert not sorted(set(example) - set(used)), (
        "deploy/env.example lists variables compose does not use"
    )


def test_kafka_authenticates_every_client_and_authorizes_by_acl_only() -> None:
    props = kafka_properties()
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    listeners = [entry.split("://")[0] for entry in props["listeners"].split(",")]
    assert listeners and all(protocols[name].startswith("SASL_") for name in listeners), (
        "every listener is SASL"
    )
    for name in listeners:
        if name not in props["controller.listener.names"].split(","):
            assert props[f"listener.name.{name.lower()}.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert (
        props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:hocba-admin", "only the admin is a super user"
    assert props["auto.create.topics.enable"] == "false"


def test_the_kafka_jobs_and_the_broker_share_one_admin_and_the_services_passwords(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["kafka"]["entrypoint"][-1] == "/etc/hocba/kafka/start.sh"
    assert services["kafka-acls"]["entrypoint"][-1] == "/etc/hocba/kafka/init.sh"
    assert "./deploy/kafka:/etc/hocba/kafka:ro" in services["kafka"]["volumes"]
    assert "./deploy/kafka:/etc/hocba/kafka:ro" in services["kafka-acls"]["volumes"]
    assert services["kafka-acls"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert (
        services["kafka-topics"]["depends_on"]["kafka-acls"]["condition"]
        == "service_completed_successfully"
    )
    admin = services["kafka-topics"]["environment"]
    assert admin["HOCBA_ADMIN_KAFKA_SECURITY_PROTOCOL"].startswith("SASL_")
    assert admin["HOCBA_ADMIN_KAFKA_SASL_USERNAME"] == "hocba-admin"
    variable = admin["HOCBA_ADMIN_KAFKA_SASL_PASSWORD"].split(":?")[0]
    assert services["kafka"]["environment"]["KAFKA_ADMIN_PASSWORD"].split(":?")[0] == variable
    init = services["kafka-acls"]["environment"]
    for service in SERVICES:
        name = f"KAFKA_{service.upper()}_PASSWORD"
        assert (
            init[name]
            == services[service]["environment"][f"HOCBA_{service.upper()}_KAFKA_SASL_PASSWORD"]
        )
    assert (
        init["HOCBA_SCHOOL_SYSTEMS"]
        == services["records"]["environment"]["HOCBA_RECORDS_SCHOOL_SYSTEMS"]
    )
    for volume in services["kafka"]["volumes"]:
        source = volume.split(":")[0]
        assert not source.startswith("./") or (ROOT / source).exists(), (
            f"kafka: mounted {volume} is missing"
        )


def test_the_kafka_scripts_parse() -> None:
    for script in sorted((DEPLOY / "kafka").glob("*.sh")):
        result = subprocess.run(
            ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, f"{script.name}: {result.stderr}"


def test_init_job_and_collector_config_exist(compose: dict[str, Any]) -> None:
    command = compose["services"]["kafka-topics"]["command"]
    module = command[command.index("-m") + 1]
    assert hasattr(importlib.import_module(module), "main")
    for volume in compose["services"]["otel-collector"]["volumes"]:
        assert (ROOT / volume.split(":")[0]).exists()


def test_committed_topic_specification_matches_the_registry() -> None:
    from hocba_runtime.admin import topics_spec

    committed = (DEPLOY / "topics.yaml").read_text()
    assert committed == topics_spec(), (
        "run `python -m hocba_runtime.admin topics-spec > deploy/topics.yaml`"
    )
    names = [t["name"] for t in yaml.safe_load(committed)["topics"]]
    assert "hocba.records.ingest" in names and len(names) == len(set(names))


def test_committed_acls_match_the_registry_and_the_subscribers() -> None:
    module = gen_acls()
    committed = (DEPLOY / "kafka" / "acls.txt").read_text()
    assert committed == module.render(), (
        "run `.venv/bin/python deploy/kafka/gen_acls.py > deploy/kafka/acls.txt`"
    )


def _subscribed(service: str) -> set[str]:
    """What a service consumes, read with a regular expression (gen_acls reads the syntax tree)."""
    text = (
        ROOT / "services" / service / "src" / f"hocba_{service}" / "entrypoints" / "kafka.py"
    ).read_text()
    constants = re.findall(r"broker\.subscriber\(\s*([A-Z_]+)\.name", text)
    assert len(constants) == text.count("broker.subscriber("), (
        f"{service}: every subscriber names <TOPIC>.name"
    )
    import hocba_contracts.topics as registry

    return {getattr(registry, c).name for c in constants}


def test_each_principal_may_do_only_what_the_registry_gives_it() -> None:
    rules = gen_acls().parse((DEPLOY / "kafka" / "acls.txt").read_text())
    granted: dict[str, set[tuple[str, str, str, str]]] = {}
    for rule in rules:
        for op in rule.operations:
            for name in rule.names:
                granted.setdefault(rule.principal, set()).add(
                    (op, rule.resource, rule.pattern, name)
                )
    ingest = {t.name for t in TOPICS if t.ingest}
    assert granted.pop("User:{school-system}") == {
        (op, "topic", "literal", t) for op in ("WRITE", "DESCRIBE") for t in ingest
    }, "a school system writes the ingest topics only"
    assert "User:hocba-admin" not in granted, "the admin is a super user and has no ACL"
    for service in SERVICES:
        consumed = _subscribed(service)
        writes = {t.name for t in TOPICS if t.owner == service and not t.ingest} | {
            dead_letter_topic(t) for t in consumed
        }
        expected = (
            {("WRITE", "topic", "literal", t) for t in writes}
            | {("READ", "topic", "literal", t) for t in consumed}
            | ({("READ", "group", "prefixed", f"hocba-{service}-")} if consumed else set())
        )
        assert granted.pop(f"User:hocba-{service}") == expected, service
    assert not granted, f"ACLs for principals nobody uses: {sorted(granted)}"
    for topic in TOPICS:
        if not topic.ingest:
            writers = {
                r.principal for r in rules if "WRITE" in r.operations and topic.name in r.names
            }
            assert writers == {f"User:hocba-{topic.owner}"}, (
                f"only {topic.owner} writes {topic.name}"
            )
