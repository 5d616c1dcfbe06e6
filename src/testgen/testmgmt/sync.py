"""The sync of a push: each selected test case created, updated or left alone in the tool, by what its
mapping (the case's remote id and the fingerprint of what was last sent) says.

- No mapping: `find()` first (a run that died after the tool created the case, before the mapping was
  written, left it there: it is adopted and brought up to date), else `create()`; the mapping is
  recorded, committed, before this case's next call.
- Mapped, same fingerprint: unchanged, no call to the tool (a Jira story missing its link to the case,
  one that failed before, gets it).
- Mapped, changed: `version()`; gone from the tool → created again; changed in the tool since the last
  push → a conflict, left alone unless `overwrite`; else `update()`, recorded.
- A mapping whose test case no longer exists in testgen (of the stories pushed): removed. Deleted in
  the tool (and its mapping dropped) only with `delete_removed`; otherwise the mapping stays, so that
  the case is reported again and a later push with `delete_removed` can delete it.

A case the tool refuses (`ToolRefused`) fails alone and the push goes on; refused credentials
(`ToolAuthError`) stop it, as do MAX_UNAVAILABLE cases in a row that the tool did not answer. A few
cases run at once, taken from the stories in turn; the first create of each story runs alone, so that
the story's section or folder is made once, while the other workers go on with other stories' cases.
After each case, `progress(done, total)`: it may raise to stop the push (a cancel), which lets the
cases under way finish first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum, auto
from typing import Protocol

from testgen.testmgmt.base import (
    CaseDoc,
    Connector,
    Remote,
    StoryRef,
    ToolAuthError,
    ToolError,
    ToolUnavailable,
)
from testgen.testmgmt.documents import fingerprint

CONCURRENCY = 4
MAX_UNAVAILABLE = 3  # cases in a row the tool did not answer (past its retries): the push stops


@dataclass(frozen=True)
class Mapping:
    """Where a pushed test case lives in the tool, and the fingerprint of what was sent."""

    test_case_id: int
    story_id: str
    remote: Remote
    fingerprint: str


class MappingStore(Protocol):
    async def load(self) -> dict[int, Mapping]:
        """Every mapping of the connection, by test case id."""

    async def existing(self, test_case_ids: Collection[int]) -> set[int]:
        """Those of `test_case_ids` that are still saved test cases."""

    async def record(self, mapping: Mapping) -> None:
        """Write (insert or replace) and commit before returning."""

    async def drop(self, test_case_id: int) -> None: ...


class Linker(Protocol):
    async def link(self, story_key: str, case: CaseDoc, remote: Remote, tool_name: str) -> None:
        """Create or update the story's link to the pushed case; ToolError when it cannot."""

    async def has_link(self, story_key: str, case: CaseDoc) -> bool:
        """Whether the story links the case already; ToolError when that cannot be read."""


Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class SyncOptions:
    # The stories pushed (None: every story of the project): removals are looked for among their mappings.
    story_ids: frozenset[str] | None = None
    delete_removed: bool = False
    overwrite: bool = False
    concurrency: int = CONCURRENCY
    linker: Linker | None = None  # links each created or updated case to its Jira story
    tool_name: str = ""  # how links name the tool
    max_unavailable: int = MAX_UNAVAILABLE


class Outcome(StrEnum):
    """What a push did with one test case (its value is its name)."""

    created = auto()
    updated = auto()
    unchanged = auto()
    conflict = auto()
    removed = auto()
    failed = auto()


@dataclass(frozen=True)
class CaseResult:
    outcome: Outcome
    test_case_id: int
    story_id: str
    remote: Remote | None = None
    message: str = ""


@dataclass
class SyncReport:
    cases: list[CaseResult] = field(default_factory=list)  # in the order given, removals last
    links_failed: list[CaseResult] = field(default_factory=list)
    linked: int = 0

    def of(self, outcome: Outcome) -> list[CaseResult]:
        return [case for case in self.cases if case.outcome is outcome]


@dataclass
class _Run:
    connector: Connector
    mapping: MappingStore
    options: SyncOptions
    progress: Progress
    mappings: dict[int, Mapping]
    total: int
    report: SyncReport
    done: int = 0
    unavailable: int = 0
    stop: BaseException | None = None
    progress_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    story_gates: dict[str, asyncio.Lock] = field(default_factory=dict)
    story_created: set[str] = field(default_factory=set)


async def push_cases(
    connector: Connector,
    story_docs: list[tuple[StoryRef, list[CaseDoc]]],
    mapping: MappingStore,
    options: SyncOptions,
    progress: Progress,
) -> SyncReport:
    mappings = await mapping.load()
    items = [(story, doc) for story, docs in story_docs for doc in docs]
    removed = await _removed(mapping, mappings, {doc.test_case_id for _, doc in items}, options)
    total = len(items) + (len(removed) if options.delete_removed else 0)
    run = _Run(connector, mapping, options, progress, mappings, total, SyncReport())
    results: list[CaseResult | None] = [None] * len(items)
    pending = _in_turn(items)
    pending.reverse()

    async def work() -> None:
        while pending and run.stop is None:
            index, (story, doc) = pending.pop()
            results[index] = await _push_one(run, story, doc)
            await _step(run)

    workers = [asyncio.create_task(work()) for _ in range(max(1, min(options.concurrency, len(items))))]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for task in workers:
            task.cancel()
        await asyncio.wait(workers)
        raise
    if run.stop is not None:
        raise run.stop
    run.report.cases = [r for r in results if r is not None]
    for found in removed:
        run.report.cases.append(await _remove(run, found))
        if options.delete_removed:
            await _step(run)
            if run.stop is not None:
                raise run.stop
    return run.report


def _in_turn(items: list[tuple[StoryRef, CaseDoc]]) -> list[tuple[int, tuple[StoryRef, CaseDoc]]]:
    """The cases indexed in the order given, taken one story after another in turn: concurrent workers
    then rarely wait on the same story's first create."""
    by_story: dict[str, list[tuple[int, tuple[StoryRef, CaseDoc]]]] = {}
    for index, item in enumerate(items):
        by_story.setdefault(item[0].id, []).append((index, item))
    queues = list(by_story.values())
    return [
        queue[turn]
        for turn in range(max(map(len, queues), default=0))
        for queue in queues
        if turn < len(queue)
    ]


async def _removed(
    mapping: MappingStore, mappings: dict[int, Mapping], selected: set[int], options: SyncOptions
) -> list[Mapping]:
    """The mappings of the stories pushed whose test case no longer exists."""
    candidates = [
        m
        for m in mappings.values()
        if m.test_case_id not in selected and (options.story_ids is None or m.story_id in options.story_ids)
    ]
    if not candidates:
        return []
    still = await mapping.existing([m.test_case_id for m in candidates])
    return sorted((m for m in candidates if m.test_case_id not in still), key=lambda m: m.test_case_id)


async def _step(run: _Run) -> None:
    """One more case done: the progress report, which may ask to stop (a cancel)."""
    async with run.progress_lock:
        run.done += 1
        if run.stop is not None:
            return
        try:
            await run.progress(run.done, run.total)
        except Exception as exc:
            run.stop = exc


async def _push_one(run: _Run, story: StoryRef, doc: CaseDoc) -> CaseResult:
    try:
        result = await _sync(run, story, doc)
    except ToolAuthError as exc:
        run.stop = run.stop or exc
        return CaseResult(Outcome.failed, doc.test_case_id, story.id, None, exc.message)
    except ToolUnavailable as exc:
        run.unavailable += 1
        if run.unavailable >= run.options.max_unavailable:
            run.stop = run.stop or exc
        return CaseResult(Outcome.failed, doc.test_case_id, story.id, _known(run, doc), exc.message)
    except ToolError as exc:  # ToolRefused: this case only
        run.unavailable = 0
        return CaseResult(Outcome.failed, doc.test_case_id, story.id, _known(run, doc), exc.message)
    run.unavailable = 0
    if result.outcome in (Outcome.created, Outcome.updated) and result.remote is not None:
        await _link(run, story, doc, result.remote)
    elif result.outcome is Outcome.unchanged and result.remote is not None:
        await _link(run, story, doc, result.remote, unless_linked=True)
    return result


def _known(run: _Run, doc: CaseDoc) -> Remote | None:
    known = run.mappings.get(doc.test_case_id)
    return known.remote if known is not None else None


async def _sync(run: _Run, story: StoryRef, doc: CaseDoc) -> CaseResult:
    connector = run.connector
    sent = fingerprint(doc)
    known = run.mappings.get(doc.test_case_id)
    if known is None:
        return await _create(run, story, doc, sent)
    if known.fingerprint == sent:
        return CaseResult(Outcome.unchanged, doc.test_case_id, story.id, known.remote)
    current = await connector.version(known.remote)
    if current is None:  # deleted in the tool
        return await _create(run, story, doc, sent)
    stored = known.remote.version
    if stored is not None and current != stored and not run.options.overwrite:
        message = (
            f"changed in the tool since the last push (version {current}, pushed {stored}); "
            "push with overwrite to replace it"
        )
        return CaseResult(Outcome.conflict, doc.test_case_id, story.id, known.remote, message)
    remote = await connector.update(known.remote, story, doc)
    await _record(run, Mapping(doc.test_case_id, story.id, remote, sent))
    return CaseResult(Outcome.updated, doc.test_case_id, story.id, remote)


async def _create(run: _Run, story: StoryRef, doc: CaseDoc, sent: str) -> CaseResult:
    """Adopt the case a run that died created, else create it; recorded before the next call."""
    if story.id in run.story_created:
        return await _create_now(run, story, doc, sent)
    gate = run.story_gates.setdefault(story.id, asyncio.Lock())
    async with gate:  # the story's first create alone: its section or folder is made once
        result = await _create_now(run, story, doc, sent)
        run.story_created.add(story.id)
        return result


async def _create_now(run: _Run, story: StoryRef, doc: CaseDoc, sent: str) -> CaseResult:
    connector = run.connector
    found = await connector.find(story, doc)
    if found is not None:
        await _record(run, Mapping(doc.test_case_id, story.id, found, ""))  # adopted; content next
        remote = await connector.update(found, story, doc)
    else:
        remote = await connector.create(story, doc)
    await _record(run, Mapping(doc.test_case_id, story.id, remote, sent))
    return CaseResult(Outcome.created, doc.test_case_id, story.id, remote)


async def _record(run: _Run, mapping: Mapping) -> None:
    """Committed even when the push is cancelled meanwhile: the tool has the case."""
    run.mappings[mapping.test_case_id] = mapping
    await asyncio.shield(run.mapping.record(mapping))


async def _link(
    run: _Run, story: StoryRef, doc: CaseDoc, remote: Remote, *, unless_linked: bool = False
) -> None:
    """The story's link to the case; for an unchanged case (`unless_linked`), only when the story lacks
    it (its link failed at an earlier push, or that push had no Jira to link with)."""
    linker = run.options.linker
    if linker is None or story.jira_key is None:
        return
    try:
        if unless_linked and await linker.has_link(story.jira_key, doc):
            return
        await linker.link(story.jira_key, doc, remote, run.options.tool_name)
    except ToolError as exc:
        run.report.links_failed.append(
            CaseResult(Outcome.failed, doc.test_case_id, story.id, remote, exc.message)
        )
    else:
        run.report.linked += 1


async def _remove(run: _Run, found: Mapping) -> CaseResult:
    if run.options.delete_removed:
        try:
            await run.connector.delete(found.remote)
        except ToolAuthError as exc:
            run.stop = exc
            raise
        except ToolError as exc:
            return CaseResult(Outcome.failed, found.test_case_id, found.story_id, found.remote, exc.message)
        await asyncio.shield(run.mapping.drop(found.test_case_id))
        return CaseResult(
            Outcome.removed, found.test_case_id, found.story_id, found.remote, "deleted in the tool"
        )
    return CaseResult(
        Outcome.removed,
        found.test_case_id,
        found.story_id,
        found.remote,
        "deleted in testgen; still in the tool (push with delete_removed to delete it there)",
    )
