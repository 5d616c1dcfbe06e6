"""The container setup (docker-compose.yml, Dockerfile, .dockerignore), checked without Docker."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import pytest
import yaml

from testgen.api.app import create_app
from testgen.cli.main import build_parser
from testgen.core.config import Settings
from tests.support.harness import ROOT

APP_SERVICES = ("migrate", "api", "worker")


def words(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else list(command)


def check_words(service: dict[str, Any]) -> list[str]:
    test = words(service["healthcheck"]["test"])
    assert test[0] in ("CMD", "CMD-SHELL")
    return test[1:] if test[0] == "CMD" else shlex.split(test[1])


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, args = line.strip().partition(" ")
            pairs.append((instruction.upper(), args.strip()))
    return pairs


def test_services_and_commands(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == {"redis", "migrate", "api", "worker"}
    assert words(services["migrate"]["command"]) == ["alembic", "upgrade", "head"]
    assert services["migrate"]["restart"] == "no"  # a string: unquoted `no` would be YAML false
    api = words(services["api"]["command"])
    assert api == ["testgen", "api", "--host", "0.0.0.0", "--port", "8000"]
    parsed = build_parser().parse_args(api[1:])  # the CLI really accepts it
    assert (parsed.command, parsed.host, parsed.port) == ("api", "0.0.0.0", 8000)
    assert words(services["worker"]["command"]) == ["testgen", "worker"]
    assert (ROOT / "alembic.ini").is_file() and (ROOT / "workers" / "__init__.py").is_file()


def test_redis_persists_and_has_a_healthcheck(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    redis = services["redis"]
    assert re.fullmatch(r"redis:7(\.\d+)*(-alpine)?", redis["image"])
    command = words(redis["command"])
    assert command[0] == "redis-server"
    assert command[command.index("--appendonly") + 1] == "yes"
    volume, _, target = redis["volumes"][0].partition(":")
    assert target == "/data" and volume in compose["volumes"]
    assert check_words(redis) == ["redis-cli", "ping"]
    assert "ports" not in redis  # only the other containers reach it


def test_app_services_wait_for_redis_and_the_migration(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api", "worker"):
        assert services[name]["depends_on"] == {
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name


def test_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    api_check = " ".join(check_words(services["api"]))
    assert "http://127.0.0.1:8000/health" in api_check
    assert [published(port, {}) for port in services["api"]["ports"]] == [("127.0.0.1", "8000", "8000")]
    assert check_words(services["worker"]) == ["arq", "--check", "workers.WorkerSettings"]
    for name in ("api", "worker"):
        assert services[name]["healthcheck"]["interval"]


def published(port: str, env: dict[str, str]) -> tuple[str, str, str]:
    """A port mapping `address:port:container-port` with its `${NAME:-default}` resolved as Compose
    does from `env` (the shell, else .env)."""
    resolved = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: env.get(m[1]) or m[2], port)
    address, host_port, container_port = resolved.rsplit(":", 2)
    return address, host_port, container_port


def test_the_api_is_published_on_this_machine_only_unless_told(
    services: dict[str, dict[str, Any]],
) -> None:
    """Without API_KEYS the API trusts `Host: localhost`: published on every interface, any machine of
    the network could send that. By default the port is on the loopback; serving the network is a
    choice made with API_PUBLISH_ADDRESS (after setting API_KEYS)."""
    (port,) = services["api"]["ports"]
    assert published(port, {}) == ("127.0.0.1", "8000", "8000")
    assert published(port, {"API_PUBLISH_ADDRESS": ""}) == ("127.0.0.1", "8000", "8000")
    assert published(port, {"API_PUBLISH_ADDRESS": "0.0.0.0"}) == ("0.0.0.0", "8000", "8000")
    assert [name for name, service in services.items() if "ports" in service] == ["api"]
    for name in APP_SERVICES:  # nothing in the file turns the keyless checks off
        environment = services[name]["environment"]
        assert "API_KEYS" not in environment and "ALLOWED_HOSTS" not in environment, name
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    assert "API_PUBLISH_ADDRESS=0.0.0.0" in text and "# API_PUBLISH_ADDRESS=127.0.0.1" in example
    assert "API_PUBLISH_ADDRESS" in (ROOT / "docs" / "operations" / "deploy.md").read_text()


def test_worker_can_be_scaled(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker
    # Jobs get WORKER_SHUTDOWN_WAIT_S (30 s by default) to finish on SIGTERM: Docker must wait longer.
    assert int(worker["stop_grace_period"].rstrip("s")) > 30


def test_settings_and_shared_volume(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        service = services[name]
        assert service["build"] == "."
        assert service["env_file"] == [{"path": ".env", "required": False}]
        env = service["environment"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["DATABASE_URL"] == "${DATABASE_URL:-sqlite+aiosqlite:////data/testgen.db}"
        assert "data:/data" in service["volumes"] and "data" in compose["volumes"]
    assert "PostgreSQL" in (ROOT / "docker-compose.yml").read_text()


def test_dockerfile(dockerfile: list[tuple[str, str]]) -> None:
    instructions = [i for i, _ in dockerfile]
    assert dockerfile[0] == ("FROM", "python:3.11-slim")
    assert instructions.count("FROM") == 1
    users = [args for i, args in dockerfile if i == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith(("root:", "0:"))
    runs = " ".join(args for i, args in dockerfile if i == "RUN")
    assert "pip install ." in runs and "[dev]" not in runs  # no dev dependencies
    copies = [args.split() for i, args in dockerfile if i == "COPY"]
    copied = {src for args in copies for src in args[:-1]}
    assert {"alembic", "alembic.ini", "workers", "src", "pyproject.toml"} <= copied
    assert [args for i, args in dockerfile if i == "WORKDIR"][-1] == "/app"
    # Everything after USER runs as that user: no root-owned writes at run time.
    assert instructions.index("USER") > max(n for n, i in enumerate(instructions) if i == "RUN")


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".git", ".venv", "data"} <= ignored
    for needed in ("src", "alembic", "alembic.ini", "workers", "pyproject.toml", "README.md"):
        assert needed not in ignored, needed


def test_the_image_user_is_numeric_and_unprivileged(dockerfile: list[tuple[str, str]]) -> None:
    """Numeric, so that Kubernetes can verify runAsNonRoot; the same uid and gid the manifests run as."""
    user = [args for i, args in dockerfile if i == "USER"][-1]
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER {user} is not a numeric uid:gid"
    uid, gid = int(match[1]), int(match[2])
    assert uid >= 10000 and gid >= 10000  # above any user of the host
    runs = " ".join(args for i, args in dockerfile if i == "RUN")
    assert f"groupadd --system --gid {gid} testgen" in runs
    assert f"useradd --system --uid {uid} --gid {gid}" in runs
    manifests = (ROOT / "deploy" / "k8s" / "base").glob("*.yaml")
    run_as = {int(n) for path in manifests for n in re.findall(r"runAsUser: (\d+)", path.read_text())}
    assert run_as == {uid}


def test_the_image_healthcheck_asks_the_api_health_route(dockerfile: list[tuple[str, str]]) -> None:
    (check,) = [args for i, args in dockerfile if i == "HEALTHCHECK"]
    options, _, command = check.partition(" CMD ")
    assert {"--interval", "--timeout", "--retries"} <= {o.split("=")[0] for o in options.split()}
    argv = json.loads(command)  # exec form: no shell needed in the image
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "HEALTHCHECK", "exec")
    (url,) = re.findall(r"'(http://[^']+)'", argv[2])
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)(/\S*)", url)
    assert match
    port, path = match[1], match[2]
    assert path == "/health" and path in create_app(Settings()).openapi()["paths"]
    exposed = [args for i, args in dockerfile if i == "EXPOSE"]
    cmd = json.loads([args for i, args in dockerfile if i == "CMD"][-1])
    assert exposed == [port] and cmd[cmd.index("--port") + 1] == port  # the image's default command: the API


def test_app_containers_run_read_only_without_capabilities(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        service = services[name]
        assert service["read_only"] is True, name
        assert service["tmpfs"] == ["/tmp"], name  # the only writable places: /tmp and the data volume
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert "user" not in service, name  # the image's own non-root user
    # The image's HEALTHCHECK is the API's: the worker has its own, the one-shot migration none.
    assert services["migrate"]["healthcheck"] == {"disable": True}
    assert check_words(services["worker"])[0] == "arq"
