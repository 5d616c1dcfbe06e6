"""Saved test cases as a push sends them (`CaseDoc`), their story (`StoryRef`), and the fingerprint of
what was sent: a case whose fingerprint is the one recorded at its last push is not sent again."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from testgen.core.languages import gherkin_keywords
from testgen.data.models import TestCase, UserStory
from testgen.domain.gherkin_feature import feature
from testgen.domain.gherkin_text import example_runs, one_line, steps
from testgen.domain.test_cases import Scenario
from testgen.testmgmt.base import CaseDoc, StoryRef

_WORK_ITEM_PAGE = re.compile(r"/_workitems/edit/([1-9][0-9]{0,9})$")


@dataclass(frozen=True)
class _Case:
    """A saved test case as the Feature writer reads it."""

    id: int
    title: str
    preconditions: Sequence[str]
    test_type: str
    priority: str
    covered_criteria: Sequence[int]
    scenarios: Sequence[Scenario]


def jira_key(jira_url: str | None) -> str | None:
    """The issue key of a story imported from Jira: the last part of its URL's path (…/browse/SHOP-1)."""
    if not jira_url:
        return None
    key = jira_url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return key or None


def work_item_id(source_url: str | None) -> int | None:
    """The id of the Azure DevOps work item a story was imported from (…/_workitems/edit/4102)."""
    found = _WORK_ITEM_PAGE.search(source_url or "")
    return int(found.group(1)) if found else None


def story_ref(story: UserStory, language: str) -> StoryRef:
    return StoryRef(
        id=story.id,
        title=story.title,
        language=language,
        jira_key=jira_key(story.jira_url),
        jira_url=story.jira_url,
        work_item_id=work_item_id(story.source_url),
        source_url=story.source_url,
    )


def scenario_steps(scenario: Scenario, language: str) -> tuple[str, str]:
    """One step of a tool's test: the scenario's title and Given/When lines, then its Then lines, with
    the keywords of the story's dialect."""
    lines = steps(gherkin_keywords(language), scenario)
    acting = len(scenario.given) + len(scenario.when)
    action = "\n".join([one_line(scenario.title), *lines[:acting]])
    return action, "\n".join(lines[acting:])


def tool_steps(scenario: Scenario, language: str) -> list[tuple[str, str]]:
    """A scenario as a tool's manual steps: one for a plain scenario; for an outline, one per row of
    its Examples with the placeholders filled in and the row's values after the action."""
    out = []
    for label, run, data in example_runs(scenario):
        action, expected = scenario_steps(run, language)
        if data:
            action = f"{action}\n({label}: {data})"
        out.append((action, expected))
    return out


def case_doc(case: TestCase, story: UserStory, language: str) -> CaseDoc:
    scenarios = [Scenario.model_validate(s) for s in case.scenarios]
    view = _Case(
        id=case.id,
        title=case.title,
        preconditions=list(case.preconditions),
        test_type=case.test_type,
        priority=case.priority,
        covered_criteria=list(case.covered_criteria),
        scenarios=scenarios,
    )
    return CaseDoc(
        test_case_id=case.id,
        title=case.title,
        description=case.description,
        preconditions=list(case.preconditions),
        priority=case.priority,
        test_type=case.test_type,
        scenarios=scenarios,
        gherkin=feature(story, [view], language),
        approved_by=str(case.approved_by) if case.approved_by is not None else None,
        steps=[step for s in scenarios for step in tool_steps(s, language)],
    )


def fingerprint(doc: CaseDoc) -> str:
    """sha256 of everything a push sends of the case (who approved it is not sent)."""
    content: dict[str, Any] = {
        "test_case_id": doc.test_case_id,
        "title": doc.title,
        "description": doc.description,
        "preconditions": doc.preconditions,
        "priority": doc.priority,
        "test_type": doc.test_type,
        "scenarios": [s.model_dump(mode="json") for s in doc.scenarios],
        "gherkin": doc.gherkin,
        "steps": [list(step) for step in doc.steps],
    }
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
