"""A test-management tool in memory, for the sync's rules: a connector that keeps cases in a dict, counts
every call, and misbehaves on request (refuses a case, refuses the credentials, does not answer, dies
right after the tool created a case); and a mapping store in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field

from testgen.domain.connections import ConnectionKind
from testgen.testmgmt.base import CaseDoc, Remote, StoryRef, ToolAuthError, ToolRefused, ToolUnavailable
from testgen.testmgmt.sync import Mapping


class Died(Exception):
    """The process running the push died (a SIGKILL, as far as the sync can tell)."""


@dataclass
class StoredCase:
    story_id: str
    marker: str
    doc: CaseDoc
    version: int = 1


@dataclass
class MemoryTool:
    kind: ConnectionKind = ConnectionKind.testrail
    cases: dict[str, StoredCase] = field(default_factory=dict)
    sections: dict[str, int] = field(default_factory=dict)  # story id -> sections made for it
    calls: list[tuple[str, int | str]] = field(default_factory=list)
    refuse: set[int] = field(default_factory=set)  # test case ids the tool refuses
    refuse_credentials: bool = False
    unavailable: bool = False
    die_after_create: set[int] = field(default_factory=set)  # the case is made, then the run dies
    latency_s: float = 0.0
    next_id: int = 100
    in_flight: int = 0
    most_in_flight: int = 0

    async def _call(self, what: str, ident: int | str) -> None:
        self.calls.append((what, ident))
        if self.refuse_credentials:
            raise ToolAuthError(
                "Memory tool 'm' refused the credentials (401: no): check them in the connection"
            )
        if self.unavailable:
            raise ToolUnavailable("Memory tool 'm' did not answer after 6 attempts (503: busy)")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency_s)
        finally:
            self.in_flight -= 1

    def _remote(self, ident: str) -> Remote:
        case = self.cases[ident]
        return Remote(
            id=ident, key=f"C{ident}", url=f"http://127.0.0.1/cases/{ident}", version=str(case.version)
        )

    async def check(self) -> str:
        await self._call("check", "")
        return "memory"

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        await self._call("find", case.test_case_id)
        for ident, stored in self.cases.items():
            if stored.marker == case.marker:
                return self._remote(ident)
        return None

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        if story.id not in self.sections:
            await self._call("section", story.id)
            self.sections[story.id] = self.sections.get(story.id, 0) + 1
        await self._call("create", case.test_case_id)
        if case.test_case_id in self.refuse:
            raise ToolRefused(f"Memory tool 'm' refused the request (400: bad title {case.title!r})", 400)
        ident = str(self.next_id)
        self.next_id += 1
        self.cases[ident] = StoredCase(story.id, case.marker, case)
        if case.test_case_id in self.die_after_create:
            self.die_after_create.discard(case.test_case_id)
            raise Died(case.test_case_id)
        return self._remote(ident)

    async def version(self, remote: Remote) -> str | None:
        await self._call("version", remote.id)
        stored = self.cases.get(remote.id)
        return str(stored.version) if stored is not None else None

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        await self._call("update", case.test_case_id)
        if case.test_case_id in self.refuse:
            raise ToolRefused(f"Memory tool 'm' refused the request (400: bad title {case.title!r})", 400)
        stored = self.cases[remote.id]
        stored.doc = case
        stored.version += 1
        return self._remote(remote.id)

    async def delete(self, remote: Remote) -> None:
        await self._call("delete", remote.id)
        self.cases.pop(remote.id, None)

    async def aclose(self) -> None:
        pass

    # --- what a user does in the tool --------------------------------------------------------------

    def edit(self, ident: str) -> None:
        self.cases[ident].version += 1

    def delete_by_hand(self, ident: str) -> None:
        del self.cases[ident]

    def of_case(self, test_case_id: int) -> list[StoredCase]:
        return [c for c in self.cases.values() if c.marker == f"testgen-{test_case_id}"]


@dataclass
class MemoryMappings:
    """The sync's memory, in a dict; `existing`: the test case ids that are still saved."""

    rows: dict[int, Mapping] = field(default_factory=dict)
    existing_ids: set[int] = field(default_factory=set)
    writes: int = 0

    async def load(self) -> dict[int, Mapping]:
        return dict(self.rows)

    async def existing(self, test_case_ids: Collection[int]) -> set[int]:
        return {i for i in test_case_ids if i in self.existing_ids}

    async def record(self, mapping: Mapping) -> None:
        self.writes += 1
        self.rows[mapping.test_case_id] = mapping

    async def drop(self, test_case_id: int) -> None:
        self.rows.pop(test_case_id, None)
