"""`testgen generate --technique`: the techniques go in the queueing body, each once; a name outside
the list is refused by the command line itself."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from testgen.cli.client import cmd_generate
from testgen.cli.main import build_parser

QUEUED = {
    "task_id": "t-1",
    "story_id": "US-1",
    "status": "queued",
    "status_url": "/generate-test-cases/status/t-1",
    "events_url": "/generate-test-cases/status/t-1/events",
}


def _sent(argv: list[str]) -> dict[str, Any]:
    bodies: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(202, json=QUEUED)

    args = build_parser().parse_args(["generate", *argv])
    args.language = "en"  # set by run_client from the environment
    with httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(answer)) as api:
        assert cmd_generate(api, args) == 0
    return bodies[0]


def test_techniques_go_in_the_body_each_once() -> None:
    body = _sent(
        ["US-1", "--technique", "boundary_values", "--technique", "pairwise", "--technique", "pairwise"]
    )
    assert body["techniques"] == ["boundary_values", "pairwise"]
    assert "techniques" not in _sent(["US-1"])


def test_an_unknown_technique_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate", "US-1", "--technique", "guessing"])
    assert "invalid choice: 'guessing'" in capsys.readouterr().err
