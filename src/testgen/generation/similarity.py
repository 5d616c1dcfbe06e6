"""Near-duplicate scenarios: within a draft and against a story's saved test cases (rapidfuzz).

Two scenarios are near-duplicates when each of their parts (given, when, then), normalised, is at
least `threshold` % similar (rapidfuzz's Indel ratio) and they name the same numbers and the same
negations. Characters alone cannot tell "a valid email" from "an invalid email" (95 %) or "after
59 minutes" from "after 61 minutes", and those are different tests (equivalence classes, boundary
values); wording, case, punctuation and articles do not make a scenario new.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process

from testgen.domain.job_results import ReportedDuplicate, ScenarioPosition
from testgen.domain.test_cases import Scenario, TestCaseDraft

DEFAULT_THRESHOLD = 85.0
_ARTICLES = frozenset({"a", "an", "the"})
_NUMBER = re.compile(r"\d+")
# Words that turn a step into its opposite: scenarios that differ in one of these are different tests.
NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "without",
        "cannot",
        "invalid",
        "empty",
        "missing",
        "expired",
        "wrong",
        "incorrect",
        "unknown",
        "denied",
        "rejected",
        "refused",
        "fails",
        "locked",
        "disabled",
    }
)


def _words(text: str) -> list[str]:
    """The words of `text`, case folded, without punctuation (rapidfuzz's C preprocessing: a third of
    the cost of a regular expression, on the worker's path for every scenario)."""
    return default_process(text.casefold()).split()


def normalise_step(step: str) -> str:
    """Case, punctuation and spacing removed."""
    return " ".join(_words(step))


def _part(steps: Sequence[str]) -> list[str]:
    """The words of one part's steps, without articles (one pass over all of them)."""
    return [w for w in _words(" ".join(steps)) if w not in _ARTICLES]


@dataclass(frozen=True)
class ScenarioKey:
    """What near-duplicate detection compares of one scenario."""

    parts: tuple[str, str, str]
    signature: tuple[tuple[str, ...], frozenset[str]]  # its numbers in order, its negations

    @property
    def probe(self) -> str:
        """What is compared first: the `when` steps (short, so rapidfuzz compares them fastest, and a
        near-duplicate must be similar in every part)."""
        return self.parts[1]


def scenario_key(scenario: Scenario) -> ScenarioKey:
    words = (_part(scenario.given), _part(scenario.when), _part(scenario.then))
    parts = (" ".join(words[0]), " ".join(words[1]), " ".join(words[2]))
    numbers = tuple(_NUMBER.findall(" ".join(parts)))
    negations = NEGATIONS.intersection([*words[0], *words[1], *words[2]])
    return ScenarioKey(parts=parts, signature=(numbers, negations))


def similar(a: ScenarioKey, b: ScenarioKey, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """Whether two scenarios are near-duplicates."""
    if a.signature != b.signature:
        return False
    return all(fuzz.ratio(x, y, score_cutoff=threshold) for x, y in zip(a.parts, b.parts, strict=True))


@dataclass(frozen=True)
class SavedScenario:
    """A scenario of a saved test case."""

    test_case_id: int
    test_case_title: str
    scenario: Scenario


@dataclass(frozen=True)
class Duplicate:
    """Scenario `scenario` of test case `test_case` of a draft repeats an earlier scenario of the draft
    (`of_test_case`, `of_scenario`) or a saved one (`saved`)."""

    test_case: int
    scenario: int
    of_test_case: int | None = None
    of_scenario: int | None = None
    saved: SavedScenario | None = None

    def describe(self) -> str:
        if self.saved is not None:
            return f'repeats saved test #{self.saved.test_case_id} "{self.saved.test_case_title[:80]}"'
        of = self._of()
        return f"repeats test case {of.test_case + 1}, scenario {of.scenario + 1} of this draft"

    def reported(self) -> ReportedDuplicate:
        """As a result lists it."""
        message = self.describe()
        if self.saved is not None:
            return ReportedDuplicate(
                test_case=self.test_case,
                scenario=self.scenario,
                message=message,
                saved_test_case_id=self.saved.test_case_id,
                saved_title=self.saved.scenario.title,
            )
        of = self._of()
        return ReportedDuplicate(test_case=self.test_case, scenario=self.scenario, message=message, of=of)

    def _of(self) -> ScenarioPosition:
        """The earlier scenario of the draft it repeats."""
        assert self.of_test_case is not None and self.of_scenario is not None
        return ScenarioPosition(test_case=self.of_test_case, scenario=self.of_scenario)


Payload = TypeVar("Payload")
Position = tuple[int, int]  # a scenario's test case and its place there

# The scenarios with the most alike `when` steps checked one by one; past that many, the other parts
# narrow the candidates down first (in C), so a crowd of alike `when` steps costs no Python per scenario.
NEAREST = 8


class _Group(Generic[Payload]):
    """The scenarios of one signature: each part's texts side by side, for rapidfuzz to compare in C."""

    def __init__(self) -> None:
        self.parts: tuple[list[str], list[str], list[str]] = ([], [], [])
        self.keys: list[ScenarioKey] = []
        self.payloads: list[Payload] = []

    def add(self, key: ScenarioKey, payload: Payload) -> None:
        for i, texts in enumerate(self.parts):
            texts.append(key.parts[i])
        self.keys.append(key)
        self.payloads.append(payload)

    def find(self, key: ScenarioKey, threshold: float) -> Payload | None:
        """The payload of the scenario `key` repeats whose `when` steps are the most alike (the first
        added of equals), if any."""
        nearest = self._alike(key, 1, threshold, NEAREST)
        for i in nearest:
            if similar(key, self.keys[i], threshold):
                return self.payloads[i]
        if len(nearest) < NEAREST:
            return None
        repeats = [i for i in self._candidates(key, threshold) if similar(key, self.keys[i], threshold)]
        if not repeats:
            return None
        whens = self.parts[1]
        return self.payloads[min(repeats, key=lambda i: (-fuzz.ratio(key.probe, whens[i]), i))]

    def _alike(self, key: ScenarioKey, part: int, threshold: float, limit: int | None) -> list[int]:
        """The scenarios whose `part` is at least `threshold` % alike to the key's, the most alike first
        (at most `limit` of them)."""
        found = process.extract(
            key.parts[part], self.parts[part], scorer=fuzz.ratio, score_cutoff=threshold, limit=limit
        )
        return [i for _, _, i in found]

    def _candidates(self, key: ScenarioKey, threshold: float) -> list[int]:
        """Every scenario alike in all three parts, and maybe some more: those alike in the given or
        the then steps when few are, else those alike in every part."""
        for part in (0, 2):
            few = self._alike(key, part, threshold, NEAREST)
            if len(few) < NEAREST:
                return few
        common = set(self._alike(key, 0, threshold, None))
        common.intersection_update(self._alike(key, 1, threshold, None), self._alike(key, 2, threshold, None))
        return sorted(common)


class Seen(Generic[Payload]):
    """Scenarios, each with a payload, grouped by signature: a scenario is compared only with those that
    name the same numbers and negations, part by part in C, so `find` is fast however many there are
    and however alike their `when` steps."""

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self._groups: dict[object, _Group[Payload]] = {}

    def __len__(self) -> int:
        return sum(len(g.keys) for g in self._groups.values())

    def add(self, key: ScenarioKey, payload: Payload) -> None:
        group = self._groups.get(key.signature)
        if group is None:
            group = self._groups[key.signature] = _Group()
        group.add(key, payload)

    def find(self, key: ScenarioKey) -> Payload | None:
        """The payload of a scenario `key` repeats, if any: of those it repeats, the one whose `when`
        steps are the most alike, the first added of equals."""
        group = self._groups.get(key.signature)
        return None if group is None else group.find(key, self.threshold)


class SavedIndex(Seen[SavedScenario]):
    """A story's saved scenarios (built once per job; checking is then fast)."""

    def __init__(self, saved: Sequence[SavedScenario], threshold: float = DEFAULT_THRESHOLD) -> None:
        super().__init__(threshold)
        for item in saved:
            self.add(scenario_key(item.scenario), item)

    def match(self, key: ScenarioKey) -> SavedScenario | None:
        """The saved scenario `key` repeats, if any (as `find` picks it)."""
        return self.find(key)


def find_repeats(cases: Sequence[TestCaseDraft], saved: SavedIndex) -> list[Duplicate]:
    """The scenarios of the draft that repeat a saved scenario: `find_duplicates`'s repeats of saved
    tests, without comparing the draft with itself (what a save skips). Each scenario is compared with
    the saved scenarios of its signature only: the cost grows with the draft times the saved tests,
    never with the draft's square."""
    return [
        Duplicate(ci, si, saved=hit)
        for ci, case in enumerate(cases)
        for si, scenario in enumerate(case.scenarios)
        if (hit := saved.match(scenario_key(scenario))) is not None
    ]


def find_duplicates(
    cases: Sequence[TestCaseDraft],
    saved: SavedIndex | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    only: int | None = None,
) -> list[Duplicate]:
    """The scenarios of the draft that repeat a saved scenario or an earlier one of the draft (a repeat
    of a saved test is reported as such first). With `only`, just the scenarios of that test case,
    compared with every other scenario of the draft."""
    keyed = [
        (ci, si, scenario_key(scenario))
        for ci, case in enumerate(cases)
        for si, scenario in enumerate(case.scenarios)
    ]
    if only is not None:  # the test case under question last: everything else counts as earlier
        keyed = [k for k in keyed if k[0] != only] + [k for k in keyed if k[0] == only]
    seen: Seen[Position] = Seen(threshold)
    found = []
    for ci, si, key in keyed:
        checked = only is None or ci == only
        hit = saved.match(key) if saved is not None and checked else None
        earlier = seen.find(key) if checked and hit is None else None
        if hit is not None:
            found.append(Duplicate(ci, si, saved=hit))
        elif earlier is not None:
            found.append(Duplicate(ci, si, of_test_case=earlier[0], of_scenario=earlier[1]))
        else:
            seen.add(key, (ci, si))
    found.sort(key=lambda d: (d.test_case, d.scenario))
    return found
