"""deploy/k8s: the kustomize base and the local overlay render, validate offline against the Kubernetes
schemas, and name only probe paths, commands, settings and metrics that exist; every pod runs
unprivileged on a read-only root filesystem, within limits, behind NetworkPolicies that let only the API
receive traffic and the pods reach only DNS, PostgreSQL, Redis and the model's host; the policy scan's
exceptions are written down."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from httpx import AsyncClient
from redis.asyncio import Redis

from testgen.api.app import create_app
from testgen.cli.main import build_parser, main
from testgen.core.config import Settings
from testgen.core.embedded_redis import free_port
from testgen.core.presence import WORKER_FRESH_S, beat_forever
from tests.support.harness import ROOT, run_worker, wait_for

K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32.0"
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="no kubectl on PATH to render the kustomizations (install kubectl to run these)"
)


def render(path: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(path)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        c
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        for c in d["spec"]["template"]["spec"]["containers"]
    ]


def pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod templates of the Deployments and Jobs, by their workload's name."""
    return {d["metadata"]["name"]: d["spec"]["template"] for d in docs if d["kind"] in ("Deployment", "Job")}


def app_pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pods that run testgen's image (the API, the workers, the migration), not the local overlay's
    PostgreSQL and Redis."""
    return {
        name: pod
        for name, pod in pods(docs).items()
        if all(re.fullmatch(r"testgen([:@].+)?", c["image"]) for c in pod["spec"]["containers"])
    }


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a Kubernetes label selector (matchLabels and matchExpressions) selects `labels`."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def policies(docs: list[dict[str, Any]], pod: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    """The NetworkPolicies that isolate `pod` in `direction` ("Ingress" or "Egress")."""
    labels = pod["metadata"]["labels"]
    return [
        policy
        for policy in by_kind(docs, "NetworkPolicy").values()
        if direction in policy["spec"]["policyTypes"] and selects(policy["spec"]["podSelector"], labels)
    ]


def rules(docs: list[dict[str, Any]], pod: dict[str, Any], direction: str) -> list[dict[str, Any]]:
    """What the policies allow `pod` in `direction`: the union of their rules."""
    key = direction.lower()
    return [rule for policy in policies(docs, pod, direction) for rule in policy["spec"].get(key, [])]


def ports(rule: dict[str, Any]) -> set[tuple[int | str, str]]:
    return {(port["port"], port.get("protocol", "TCP")) for port in rule.get("ports", [])}


def dockerfile_user() -> tuple[int, int]:
    """The uid and gid of the Dockerfile's last USER (numeric)."""
    users = re.findall(r"^USER\s+(\d+):(\d+)\s*$", (ROOT / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert users, "the Dockerfile's USER is not a numeric uid:gid"
    uid, gid = users[-1]
    return int(uid), int(gid)


@needs_kubectl
@pytest.mark.parametrize("target", ["base", "overlays/local"])
def test_manifests_are_valid_kubernetes(target: str) -> None:
    docs = render(K8S / target)
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Job", "ConfigMap", "Secret"}
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a custom resource: outside the Kubernetes schemas, checked below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_catches_a_broken_manifest() -> None:
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "two", "selector": {}, "template": {}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@needs_kubectl
def test_probes_commands_and_settings_exist() -> None:
    docs = render(K8S / "base")
    paths = set(create_app(Settings()).openapi()["paths"])
    api = by_kind(docs, "Deployment")["testgen-api"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert api[probe]["httpGet"]["path"] in paths
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"

    parser = build_parser()
    commands = [c["command"] for c in containers(docs)]
    worker = by_kind(docs, "Deployment")["testgen-worker"]["spec"]["template"]["spec"]["containers"][0]
    commands.append(worker["livenessProbe"]["exec"]["command"])
    assert ["testgen", "worker", "--check"] in commands and ["testgen", "migrate"] in commands
    for command in commands:
        assert command[0] == "testgen"
        parser.parse_args(command[1:])  # exits (SystemExit) on an unknown command or option

    known = {name.upper() for name in Settings.model_fields}
    for kind in ("ConfigMap", "Secret"):
        for doc in by_kind(docs, kind).values():
            values = doc.get("data") or doc.get("stringData") or {}
            assert set(values) <= known, f"{kind} {doc['metadata']['name']}: {set(values) - known}"


@needs_kubectl
async def test_workers_scale_on_a_metric_the_api_exports(client: AsyncClient) -> None:
    docs = render(K8S / "base")
    scaled = by_kind(docs, "ScaledObject")["testgen-worker"]
    assert scaled["spec"]["scaleTargetRef"]["name"] in by_kind(docs, "Deployment")
    assert scaled["spec"]["minReplicaCount"] >= 1  # /ready needs a live worker
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    exported = {
        line.split()[2]
        for line in (await client.get("/metrics")).text.splitlines()
        if line.startswith("# TYPE")
    }
    assert "testgen_queue_depth" in trigger["metadata"]["query"]
    assert "testgen_queue_depth" in exported
    local = render(K8S / "overlays" / "local")
    assert not by_kind(local, "ScaledObject")  # local clusters rarely run KEDA


@needs_kubectl
@pytest.mark.parametrize("target", ["base", "overlays/local"])
def test_worker_metrics_listen_on_the_pod_network_where_prometheus_scrapes(target: str) -> None:
    assert Settings.model_fields["worker_metrics_host"].default == "127.0.0.1"  # elsewhere: this machine
    docs = render(K8S / target)
    config = by_kind(docs, "ConfigMap")["testgen-config"]["data"]
    pod = by_kind(docs, "Deployment")["testgen-worker"]["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert config["WORKER_METRICS_HOST"] == "0.0.0.0"
    assert annotations["prometheus.io/port"] == config["WORKER_METRICS_PORT"]
    (container,) = pod["spec"]["containers"]
    assert {"configMapRef": {"name": "testgen-config"}} in container["envFrom"]
    assert [p["containerPort"] for p in container["ports"]] == [int(config["WORKER_METRICS_PORT"])]


def test_worker_check_reads_the_heartbeat_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the repository
    beat = tmp_path / "beat"
    monkeypatch.delenv("WORKER_HEARTBEAT_FILE", raising=False)
    assert main(["worker", "--check"]) == 2
    monkeypatch.setenv("WORKER_HEARTBEAT_FILE", str(beat))
    assert main(["worker", "--check"]) == 1
    assert "last heartbeat never" in capsys.readouterr().err
    beat.touch()
    assert main(["worker", "--check"]) == 0
    stale = time.time() - WORKER_FRESH_S - 5
    os.utime(beat, (stale, stale))
    assert main(["worker", "--check"]) == 1


async def test_the_heartbeat_touches_the_file_even_without_redis(tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    beat.touch()
    stale = time.time() - WORKER_FRESH_S - 5
    os.utime(beat, (stale, stale))
    unreachable = Redis.from_url(f"unix://{tmp_path}/no-such.sock", socket_connect_timeout=0.5)
    task = asyncio.create_task(beat_forever(unreachable, "w1", beat))
    try:
        async with asyncio.timeout(10):  # fails rather than hangs when the file is never touched
            while beat.stat().st_mtime == stale:
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await unreachable.aclose()


TARGETS = ["base", "overlays/local"]


@needs_kubectl
@pytest.mark.parametrize("target", TARGETS)
def test_every_pod_runs_unprivileged_on_a_read_only_root_within_limits(target: str) -> None:
    docs = render(K8S / target)
    assert set(app_pods(docs)) == {"testgen-api", "testgen-worker", "testgen-migrate"}
    deployments = set(by_kind(docs, "Deployment"))
    for name, pod in pods(docs).items():
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False, name  # no Kubernetes API token in the pod
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert context["runAsUser"] >= 10000 and context["runAsGroup"] >= 10000, name  # no host user's uid
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            locked = container["securityContext"]
            assert locked["runAsNonRoot"] is True, where
            assert locked["allowPrivilegeEscalation"] is False, where
            assert locked["readOnlyRootFilesystem"] is True, where
            assert locked["capabilities"] == {"drop": ["ALL"]}, where
            assert locked.get("privileged", False) is False, where
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), f"{where}: {bound}"
            if (
                name in deployments
            ):  # a long-running pod: restarted when stuck, out of rotation when not ready
                assert "readinessProbe" in container and "livenessProbe" in container, where
            for mount in container.get("volumeMounts", []):  # writable places are the pod's own scratch
                assert "emptyDir" in volumes[mount["name"]], f"{where}: {mount['mountPath']}"


@needs_kubectl
@pytest.mark.parametrize("target", TARGETS)
def test_the_app_runs_as_the_image_user_and_writes_only_to_its_own_tmp(target: str) -> None:
    docs = render(K8S / target)
    uid, gid = dockerfile_user()
    heartbeat = Path(by_kind(docs, "ConfigMap")["testgen-config"]["data"]["WORKER_HEARTBEAT_FILE"])
    for name, pod in app_pods(docs).items():
        context = pod["spec"]["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (uid, gid, gid), name
        (container,) = pod["spec"]["containers"]
        mounts = {mount["mountPath"] for mount in container["volumeMounts"]}
        assert mounts == {"/tmp"}, name
    assert heartbeat.parent == Path("/tmp")  # the worker's liveness file is on a writable mount


@needs_kubectl
async def test_the_worker_readiness_probe_answers_once_the_worker_has_started(settings: Settings) -> None:
    docs = render(K8S / "base")
    config = by_kind(docs, "ConfigMap")["testgen-config"]["data"]
    (container,) = pods(docs)["testgen-worker"]["spec"]["containers"]
    probe = container["readinessProbe"]["httpGet"]
    named = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert named[probe["port"]] == int(config["WORKER_METRICS_PORT"])

    port = free_port()
    settings.worker_metrics_port = port
    settings.worker_metrics_host = "127.0.0.1"

    async def probe_answers(http: AsyncClient) -> bool:
        try:
            return (await http.get(probe["path"])).status_code == 200
        except httpx.TransportError:
            return False

    async with AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        assert not await probe_answers(http)  # no worker yet: not ready
        async with run_worker(settings):
            await wait_for(lambda: probe_answers(http), what="the worker's readiness probe to answer")
            assert "testgen_" in (await http.get(probe["path"])).text


@needs_kubectl
@pytest.mark.parametrize("target", TARGETS)
def test_every_app_pod_is_isolated_both_ways(target: str) -> None:
    docs = render(K8S / target)
    for name, pod in app_pods(docs).items():
        for direction in ("Ingress", "Egress"):
            # Once one policy selects a pod in a direction, only what the policies allow gets through.
            assert policies(docs, pod, direction), f"{name}: no {direction} policy"
    deny = by_kind(docs, "NetworkPolicy")["testgen-default-deny"]["spec"]
    assert (
        set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny and "egress" not in deny
    )


@needs_kubectl
@pytest.mark.parametrize("target", TARGETS)
def test_only_the_api_receives_traffic(target: str) -> None:
    docs = render(K8S / target)
    app = app_pods(docs)
    api = app["testgen-api"]
    (container,) = api["spec"]["containers"]
    named = {port["name"]: port["containerPort"] for port in container["ports"]}
    (rule,) = rules(docs, api, "Ingress")
    assert ports(rule) == {("http", "TCP")} and named["http"] == 8000 and "from" not in rule

    worker = app["testgen-worker"]
    (rule,) = rules(docs, worker, "Ingress")  # Prometheus scrapes the workers' metrics, nothing else
    assert ports(rule) == {("metrics", "TCP")}
    (peer,) = rule["from"]
    prometheus = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert set(peer) == {"namespaceSelector"}
    if target == "base":
        scaler = by_kind(docs, "ScaledObject")["testgen-worker"]["spec"]["triggers"][0]["metadata"]
        assert f".{prometheus}.svc" in scaler["serverAddress"]  # the namespace KEDA asks Prometheus in

    assert rules(docs, app["testgen-migrate"], "Ingress") == []


@needs_kubectl
@pytest.mark.parametrize("target", TARGETS)
def test_app_pods_reach_only_dns_the_database_redis_and_the_model(target: str) -> None:
    docs = render(K8S / target)
    dns = {(53, "UDP"), (53, "TCP")}
    database, redis, sentinel, model = {(5432, "TCP")}, {(6379, "TCP")}, {(26379, "TCP")}, {(443, "TCP")}
    for name, pod in app_pods(docs).items():
        reached: set[tuple[int | str, str]] = set()
        for rule in rules(docs, pod, "Egress"):
            assert rule.get("to") and rule.get("ports"), f"{name}: a rule open to any peer or port: {rule}"
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    network = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                    assert network.prefixlen == network.max_prefixlen, f"{name}: {network} is not one host"
                else:  # pods: named by label, never every pod of a namespace
                    assert peer["podSelector"].get("matchLabels") or peer["podSelector"].get(
                        "matchExpressions"
                    )
            reached |= ports(rule)
        needed = dns | database | (redis | model if name != "testgen-migrate" else set())
        allowed = needed | (sentinel if name != "testgen-migrate" else set())
        assert needed <= reached <= allowed, f"{name}: reaches {sorted(reached, key=str)}"


def test_the_base_reaches_no_real_host_until_configured() -> None:
    """The base's addresses for PostgreSQL, Redis and the model are placeholders from TEST-NET-1."""
    placeholders = ipaddress.ip_network("192.0.2.0/24")
    docs = list(yaml.safe_load_all((K8S / "base" / "networkpolicy.yaml").read_text()))
    blocks = [
        ipaddress.ip_network(peer["ipBlock"]["cidr"])
        for policy in docs
        for rule in policy["spec"].get("egress", [])
        for peer in rule["to"]
        if "ipBlock" in peer
    ]
    assert len(blocks) == 3 and all(block.subnet_of(placeholders) for block in blocks)  # type: ignore[arg-type]
    guide = (ROOT / "docs" / "operations" / "deploy.md").read_text()
    for name in ("testgen-egress-database", "testgen-egress-redis", "testgen-egress-model"):
        assert name in guide, f"docs/operations/deploy.md does not say how to set {name}"


@needs_kubectl
def test_the_local_services_accept_only_the_app_and_the_app_reaches_them() -> None:
    docs = render(K8S / "overlays" / "local")
    app = app_pods(docs)
    local = pods(docs)
    for service, port, users in (
        ("postgres", 5432, {"testgen-api", "testgen-worker", "testgen-migrate"}),
        ("redis", 6379, {"testgen-api", "testgen-worker"}),
    ):
        pod = local[service]
        (rule,) = rules(docs, pod, "Ingress")
        assert ports(rule) == {(port, "TCP")}
        (peer,) = rule["from"]
        admitted = {
            name for name, other in app.items() if selects(peer["podSelector"], other["metadata"]["labels"])
        }
        assert admitted == users, service
        assert not any(
            selects(peer["podSelector"], other["metadata"]["labels"])
            for other in (local["postgres"], local["redis"])
        )
        assert policies(docs, pod, "Egress") and rules(docs, pod, "Egress") == [], f"{service} sends nothing"
        for name in users:  # and the app's egress to that port goes to that very pod
            targets = [rule for rule in rules(docs, app[name], "Egress") if (port, "TCP") in ports(rule)]
            assert targets and all(
                selects(peer["podSelector"], pod["metadata"]["labels"])
                for rule in targets
                for peer in rule["to"]
            ), f"{name} -> {service}"


@needs_kubectl
@pytest.mark.parametrize("target", TARGETS)
def test_disruption_budgets_keep_the_api_and_workers_up_without_blocking_a_drain(target: str) -> None:
    docs = render(K8S / target)
    budgets = by_kind(docs, "PodDisruptionBudget").values()
    deployments = by_kind(docs, "Deployment")
    for name in ("testgen-api", "testgen-worker"):
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        (budget,) = [b["spec"] for b in budgets if selects(b["spec"]["selector"], labels)]
        # One replica (the local overlay, KEDA's minimum) must still let a node drain: no minAvailable.
        assert budget["maxUnavailable"] == 1 and "minAvailable" not in budget, name
        assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow", name  # an unready pod holds nothing up


def test_the_policy_scan_runs_in_ci_and_every_exception_has_its_reason() -> None:
    config_text = (ROOT / ".checkov.yaml").read_text()
    config = yaml.safe_load(config_text)
    skipped = config["skip-check"]
    assert skipped and config["skip-download"] is True  # offline: nothing fetched from the vendor
    comments = "\n".join(line for line in config_text.splitlines() if line.lstrip().startswith("#"))
    guide = (ROOT / "docs" / "operations" / "deploy.md").read_text()
    for check in skipped:
        assert re.search(rf"#.*\b{check}\b.*\S", comments), f".checkov.yaml gives no reason to skip {check}"
        assert check in guide, f"docs/operations/deploy.md does not list the skipped {check}"
    script = (ROOT / "deploy" / "policy-scan.sh").read_text()
    assert "--config-file .checkov.yaml" in script
    assert "--directory deploy/k8s" in script and "--file Dockerfile --framework dockerfile" in script
    assert re.search(r"^bash deploy/policy-scan\.sh$", (ROOT / ".ci" / "run").read_text(), flags=re.MULTILINE)
