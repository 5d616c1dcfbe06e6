"""A story's saved test cases as one Gherkin Feature in the story's dialect: a `# language:` header,
the story as the Feature (its description and acceptance criteria), each test case's scenarios tagged
with its type, priority, id and the criteria it covers. The export writes it as a .feature file; a
push sends one test case's Feature to the tools that keep Cucumber tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from testgen.core.i18n import label
from testgen.core.languages import DEFAULT_LANGUAGE, gherkin_keywords
from testgen.domain.gherkin_text import examples_block, free_text, header, one_line, scenario_keyword, steps
from testgen.domain.test_cases import Scenario


class FeatureStory(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def acceptance_criteria(self) -> Sequence[str]: ...


class FeatureCase(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def preconditions(self) -> Sequence[str]: ...
    @property
    def test_type(self) -> str: ...
    @property
    def priority(self) -> str: ...
    @property
    def covered_criteria(self) -> Sequence[int]: ...
    @property
    def scenarios(self) -> Sequence[Scenario]: ...


def criterion_label(index: int) -> str:
    return f"AC{index + 1}"


def feature(story: FeatureStory, cases: Sequence[FeatureCase], language: str = DEFAULT_LANGUAGE) -> str:
    words = gherkin_keywords(language)
    lines = [header(words), f"@story-{story.id}", f"{words.feature}: {one_line(story.title)}"]
    description = (
        free_text(story.description.strip("\r\n"), "  ", language) if story.description.strip() else []
    )
    if description:
        lines += description
    if story.acceptance_criteria:
        if description:
            lines.append("")
        lines.append(f"  {label(language, 'export.acceptance_criteria')}:")
        lines += [
            f"    {criterion_label(i)}. {one_line(text)}" for i, text in enumerate(story.acceptance_criteria)
        ]
    for case in cases:
        lines += ["", f"  # TC-{case.id}: {one_line(case.title)}"]
        if case.preconditions:
            preconditions = "; ".join(one_line(p) for p in case.preconditions)
            lines.append(f"  # {label(language, 'export.preconditions')}: {preconditions}")
        tags = [f"@{case.test_type}", f"@priority-{case.priority}", f"@TC-{case.id}"]
        tags += [f"@{criterion_label(i)}" for i in case.covered_criteria]
        for n, scenario in enumerate(case.scenarios):
            if n:
                lines.append("")
            lines.append("  " + " ".join(tags))
            lines.append(f"  {scenario_keyword(words, scenario)}: {one_line(scenario.title)}")
            lines += [f"    {line}" for line in steps(words, scenario)]
            lines += examples_block(words, scenario, "    ")
    return "\n".join(lines) + "\n"
