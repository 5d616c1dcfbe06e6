"""Every answer an app gives in the suite is one its OpenAPI document names for that operation.

`record_answers()` wraps `FastAPI.__call__` for the session: each response's status is looked up
in the document of the app that sent it (a 405 is not an operation's answer and is skipped; the
tests of Allow check it). An undocumented answer is charged to the test that caused it, which then
fails (conftest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from testgen.api.http_methods import flat_routes


@dataclass
class Answers:
    test: str = ""
    undocumented: dict[str, list[str]] = field(default_factory=dict)

    def check(self, app: FastAPI, scope: Scope, status: int) -> None:
        if status == 405:
            return
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        probe = {**scope, "method": method}
        for route in flat_routes(app.routes):
            documented_route = isinstance(route.original_route, APIRoute) and route.include_in_schema
            if documented_route and route.matches(probe)[0] == Match.FULL:
                documented = app.openapi()["paths"][route.path_format][method.lower()]["responses"]
                if str(status) not in documented:
                    line = f"{method} {route.path_format} answered {status}; documented: {sorted(documented)}"
                    self.undocumented.setdefault(self.test, []).append(line)
                return


@contextmanager
def record_answers() -> Iterator[Answers]:
    answers = Answers()
    original = FastAPI.__call__

    async def recording_call(self: FastAPI, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await original(self, scope, receive, send)
            return

        async def checked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answers.check(self, scope, message["status"])
            await send(message)

        await original(self, scope, receive, checked_send)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(FastAPI, "__call__", recording_call)
        yield answers


def complaint(lines: list[str]) -> str:
    unique: dict[str, Any] = dict.fromkeys(lines)
    return "Answers the OpenAPI document does not name:\n" + "\n".join(unique)
