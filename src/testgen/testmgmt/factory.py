"""The connector of a connection, by kind. Each kind's module has `connect(...)`; the module is found
here by name, so a kind's code is loaded only when a connection of that kind is used."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import httpx

from testgen.domain.connections import ConnectionKind
from testgen.testmgmt.base import Connector
from testgen.testmgmt.http import MAX_WAIT_S, Sleep

MODULES: dict[ConnectionKind, str] = {
    ConnectionKind.testrail: "testgen.testmgmt.testrail",
    ConnectionKind.xray_cloud: "testgen.testmgmt.xray",
    ConnectionKind.xray_dc: "testgen.testmgmt.xray",
    ConnectionKind.zephyr_scale: "testgen.testmgmt.zephyr",
    ConnectionKind.azure_devops: "testgen.testmgmt.azure_devops",
    ConnectionKind.jira: "testgen.testmgmt.jira_links",
    ConnectionKind.github: "testgen.testmgmt.github",
}


@dataclass(frozen=True)
class HttpOptions:
    """How a connector's client is built: tests pass a transport or a sleep; the timeout is the server's."""

    timeout_s: float = 30.0
    transport: httpx.AsyncBaseTransport | None = None
    sleep: Sleep | None = None
    max_wait_s: float = MAX_WAIT_S  # the longest rate-limit wait honoured (GitHub's reset time)


def connect(
    kind: ConnectionKind,
    settings: dict[str, Any],
    secrets: dict[str, str],
    name: str,
    options: HttpOptions | None = None,
) -> Connector:
    """A connector for the connection `name` (its settings as stored, its secrets opened)."""
    module = importlib.import_module(MODULES[kind])
    connector: Connector = module.connect(kind, settings, secrets, name, options or HttpOptions())
    return connector
