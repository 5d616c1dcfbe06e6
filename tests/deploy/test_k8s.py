"""deploy/k8s: the kustomize base and the local overlay render, validate offline against the Kubernetes
schemas, and name only probe paths, commands, settings and metrics that exist."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from httpx import AsyncClient
from redis.asyncio import Redis

from testgen.api.app import create_app
from testgen.cli.main import build_parser, main
from testgen.core.config import Settings
from testgen.core.presence import WORKER_FRESH_S, beat_forever
from tests.support.harness import ROOT

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
