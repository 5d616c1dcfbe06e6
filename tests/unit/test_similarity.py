"""Near-duplicate scenarios (pure functions): the examples the default threshold is tuned on.

Each pair is (given, when, then) of two scenarios. SAME pairs are rewordings a reviewer would call one
test; DIFFERENT pairs are distinct tests that a plain character ratio puts above 80 % (valid vs
invalid email is 95 %). The default threshold must keep every SAME pair and no DIFFERENT pair.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from rapidfuzz import fuzz, process

from testgen.core.config import Settings
from testgen.domain.test_cases import Scenario
from testgen.domain.test_cases import TestCaseDraft as Draft
from testgen.generation import similarity
from testgen.generation.similarity import (
    DEFAULT_THRESHOLD,
    NEAREST,
    Duplicate,
    SavedIndex,
    SavedScenario,
    ScenarioKey,
    Seen,
    find_duplicates,
    find_repeats,
    scenario_key,
    similar,
)

Steps = tuple[str, str, str]

SAME: list[tuple[Steps, Steps]] = [
    (
        ("The shopper is signed in", "they pay", "paid"),
        ("the  shopper, is SIGNED-in.", "They pay!", "Paid"),
    ),
    (
        (
            "a registered user is on the login page",
            "they enter a valid email and password",
            "the dashboard opens",
        ),
        (
            "the registered user is on the login page",
            "they enter valid email and password",
            "dashboard opens",
        ),
    ),
    (
        ("a user requested a reset link", "the user opens the reset link", "the reset form is shown"),
        ("the user requested a reset link", "the user opens the reset link", "the reset form is shown."),
    ),
    (
        ("an item in the basket", "the shopper removes the item", "the basket is empty"),
        ("an item in the basket", "the shopper removes that item", "the basket is empty"),
    ),
    (
        ("a signed-in user", "the user enters a valid email", "an error message is shown"),
        ("a signed in user", "the user enters the valid email", "an error message is shown"),
    ),
]

DIFFERENT: list[tuple[Steps, Steps]] = [
    (  # equivalence classes: a negation is the whole difference
        ("a signed-in user", "the user enters a valid email", "the email is saved"),
        ("a signed-in user", "the user enters an invalid email", "the email is saved"),
    ),
    (  # boundary values: only the number differs
        ("a user requested a reset link", "they open the link after 59 minutes", "the reset form is shown"),
        ("a user requested a reset link", "they open the link after 61 minutes", "the reset form is shown"),
    ),
    (
        ("a basket with items", "the shopper pays by card", "the order is confirmed"),
        ("a basket with items", "the shopper pays by invoice", "the order is confirmed"),
    ),
    (
        ("a reset link", "the user opens the link", "the link is accepted"),
        ("a reset link", "the user opens the link", "the link is rejected"),
    ),
    (
        ("a user", "the admin deletes the user", "the user is gone"),
        ("a user", "the guest deletes the user", "the user is gone"),
    ),
    (
        ("a form", "the user submits the form", "a confirmation is shown"),
        ("a form", "the user submits the empty form", "a confirmation is shown"),
    ),
    (  # a negation that ends a part
        ("the account is locked", "the user signs in", "the dashboard opens"),
        ("the account is unlocked", "the user signs in", "the dashboard opens"),
    ),
    (  # the fake Gemini server's scenarios: only the test case number differs
        ("a user for test case 1", "they perform step 1", "outcome 1 of test case 1 is observed"),
        ("a user for test case 2", "they perform step 1", "outcome 1 of test case 2 is observed"),
    ),
]


def scenario(steps: Steps, title: str = "s") -> Scenario:
    given, when, then = steps
    return Scenario(title=title, given=[given], when=[when], then=[then])


@pytest.mark.parametrize(("a", "b"), SAME)
def test_rewordings_are_near_duplicates(a: Steps, b: Steps) -> None:
    assert similar(scenario_key(scenario(a)), scenario_key(scenario(b)), DEFAULT_THRESHOLD)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_distinct_tests_are_not(a: Steps, b: Steps) -> None:
    assert not similar(scenario_key(scenario(a)), scenario_key(scenario(b)), DEFAULT_THRESHOLD)


def test_the_default_threshold_is_the_setting_and_the_tuned_range_holds_it() -> None:
    assert Settings(_env_file=None).duplicate_threshold == DEFAULT_THRESHOLD  # type: ignore[call-arg]
    # The range of thresholds that separates the examples: the default sits inside it, not at an edge.
    keeps = [
        t
        for t in range(70, 101)
        if all(similar(scenario_key(scenario(a)), scenario_key(scenario(b)), t) for a, b in SAME)
    ]
    rejects = [
        t
        for t in range(70, 101)
        if not any(similar(scenario_key(scenario(a)), scenario_key(scenario(b)), t) for a, b in DIFFERENT)
    ]
    good = sorted(set(keeps) & set(rejects))
    assert good and good[0] < DEFAULT_THRESHOLD < good[-1], good


def test_duplicates_within_a_draft_and_against_saved_tests() -> None:
    login = scenario(SAME[1][0], "login")
    reworded = scenario(SAME[1][1], "login again")
    other = scenario(DIFFERENT[0][0], "valid email")
    negated = scenario(DIFFERENT[0][1], "invalid email")
    cases = [Draft(title="A", scenarios=[login, other]), Draft(title="B", scenarios=[negated, reworded])]
    [dupe] = find_duplicates(cases)
    assert (dupe.test_case, dupe.scenario, dupe.of_test_case, dupe.of_scenario) == (1, 1, 0, 0)

    saved = SavedIndex([SavedScenario(12, "Email rules", scenario(DIFFERENT[0][1], "saved"))])
    found = find_duplicates(cases, saved)
    assert [(d.test_case, d.scenario) for d in found] == [(1, 0), (1, 1)]
    assert found[0].describe() == 'repeats saved test #12 "Email rules"'
    assert found[0].reported().saved_test_case_id == 12
    # Only one test case checked (a regeneration): the others count as earlier.
    assert [(d.test_case, d.scenario) for d in find_duplicates(cases, only=0)] == [(0, 0)]


def test_threshold_decides_and_every_part_must_be_alike() -> None:
    a, b = (scenario(x) for x in SAME[3])  # its when steps are 88.9 % alike
    assert similar(scenario_key(a), scenario_key(b), 85) and not similar(scenario_key(a), scenario_key(b), 95)
    cases = [Draft(title="A", scenarios=[a]), Draft(title="B", scenarios=[b])]
    assert len(find_duplicates(cases, threshold=85)) == 1 and find_duplicates(cases, threshold=95) == []
    saved = [SavedScenario(1, "S", a)]
    assert SavedIndex(saved, 85).match(scenario_key(b)) is not None
    assert SavedIndex(saved, 95).match(scenario_key(b)) is None
    assert Seen(95).find(scenario_key(b)) is None
    # The when steps alike (compared first), the given steps 88.9 % alike: the threshold still decides.
    c, d = (Scenario(title="t", given=[x[1]], when=["they pay"], then=["paid"]) for x in SAME[3])
    for threshold, found in ((85, True), (95, False)):
        assert (SavedIndex([SavedScenario(1, "S", c)], threshold).match(scenario_key(d)) is not None) is found
        seen = Seen(threshold)
        seen.add(scenario_key(c), (0, 0))
        assert (seen.find(scenario_key(d)) == (0, 0)) is found
    # The same when steps but other given steps: not a duplicate (each part must be alike).
    other = Scenario(title="o", given=["a guest on the home page"], when=a.when, then=a.then)
    assert find_duplicates([Draft(title="A", scenarios=[a, other])]) == []
    assert SavedIndex(saved).match(scenario_key(other)) is None


def test_many_candidates_with_the_same_when_steps_are_all_considered() -> None:
    base = scenario(SAME[1][0])
    givens = [
        "a guest browses the catalogue",
        "an admin edits prices",
        "a courier scans a parcel",
        "a bot crawls the sitemap",
        "a partner uploads stock",
        "a tester resets data",
        "a reviewer writes notes",
    ]
    decoys = [Scenario(title=g, given=[g], when=base.when, then=base.then) for g in givens]
    twin = scenario(SAME[1][1])
    saved = SavedIndex([SavedScenario(i, f"S{i}", d) for i, d in enumerate([*decoys, base])])
    hit = saved.match(scenario_key(twin))
    assert hit is not None and hit.test_case_id == len(decoys)
    cases = [Draft(title="A", scenarios=[*decoys, base]), Draft(title="B", scenarios=[twin])]
    [dupe] = find_duplicates(cases)
    assert (dupe.test_case, dupe.scenario, dupe.of_test_case, dupe.of_scenario) == (1, 0, 0, len(decoys))


def test_only_checks_that_test_case_against_all_the_others() -> None:
    x, y = scenario(SAME[1][0], "x"), scenario(DIFFERENT[0][0], "y")
    unique = scenario(DIFFERENT[2][0], "u")
    cases = [
        Draft(title="A", scenarios=[y, x]),
        Draft(title="B", scenarios=[scenario(SAME[1][1], "x again")]),
        Draft(title="C", scenarios=[unique]),
    ]
    [dupe] = find_duplicates(cases, only=1)
    assert (dupe.test_case, dupe.scenario, dupe.of_test_case, dupe.of_scenario) == (1, 0, 0, 1)
    assert find_duplicates(cases, only=2) == []  # B repeats A, but only C is under question
    saved = SavedIndex([SavedScenario(3, "S", x)])
    assert [(d.test_case, d.saved is not None) for d in find_duplicates(cases, saved, only=2)] == []
    assert [(d.test_case, d.scenario) for d in find_duplicates(cases, saved)] == [(0, 1), (1, 0)]


def test_a_duplicate_describes_itself() -> None:
    saved = SavedScenario(12, "Email rules " + "x" * 100, scenario(SAME[0][0], "kept title"))
    repeat = Duplicate(2, 1, saved=saved)
    assert repeat.describe() == f'repeats saved test #12 "Email rules {"x" * 68}"'
    assert repeat.reported().model_dump() == {
        "test_case": 2,
        "scenario": 1,
        "message": repeat.describe(),
        "saved_test_case_id": 12,
        "saved_title": "kept title",
    }
    inner = Duplicate(3, 2, of_test_case=1, of_scenario=0)
    assert inner.reported().model_dump() == {
        "test_case": 3,
        "scenario": 2,
        "message": "repeats test case 2, scenario 1 of this draft",
        "of": {"test_case": 1, "scenario": 0},
    }
    assert len(SavedIndex([saved, saved])) == 2


def test_a_key_is_each_parts_words_without_case_punctuation_or_articles() -> None:
    key = scenario_key(
        Scenario(
            title="t",
            given=["The user, Ana, has 3 carts", "an item   costs 10€"],
            when=["She pays — NOT by card"],
            then=["Straße_Nr. 5 is shown"],
        )
    )
    assert key.parts == (
        "user ana has 3 carts item costs 10",
        "she pays not by card",
        "strasse nr 5 is shown",
    )
    assert key.signature == (("3", "10", "5"), frozenset({"not"}))


def crowd(rng: random.Random, n: int, kinds: int) -> list[Scenario]:
    """Scenarios whose parts come from a few texts, some with one letter changed: each part is alike in
    many scenarios, and any two differ in some part or other."""
    givens = [
        "a shopper has a basket",
        "a guest browses the shop",
        "an admin edits prices",
        "a courier has a parcel",
    ]
    whens = [
        "they pay by card now",
        "they open the reset link",
        "they submit the form",
        "they share a coupon",
    ]
    thens = ["the order is confirmed", "a receipt is emailed", "the profile is updated", "the coupon applies"]

    def pick(texts: list[str]) -> str:
        text = rng.choice(texts[:kinds])
        if rng.random() < 0.4:
            i = rng.randrange(len(text))
            text = text[:i] + rng.choice("xyz") + text[i + 1 :]
        return text

    return [
        Scenario(title=f"s{i}", given=[pick(givens)], when=[pick(whens)], then=[pick(thens)])
        for i in range(n)
    ]


def first_repeat(added: list[ScenarioKey], key: ScenarioKey, threshold: float) -> int | None:
    """What `Seen.find` answers, the slow way: of the scenarios `key` repeats, the one whose when steps
    are the most alike, the first added of equals."""
    order = sorted(range(len(added)), key=lambda i: (-fuzz.ratio(key.probe, added[i].probe), i))
    return next((i for i in order if similar(key, added[i], threshold)), None)


@pytest.mark.parametrize("threshold", [85, 95])
def test_a_crowd_of_alike_parts_finds_what_comparing_every_pair_finds(threshold: float) -> None:
    rng = random.Random(threshold)
    for kinds in (2, 3, 4):
        added = [scenario_key(s) for s in crowd(rng, 120, kinds)]
        seen: Seen[int] = Seen(threshold)
        for i, key in enumerate(added):
            seen.add(key, i)
        assert len(seen) == len(added)
        queries = [scenario_key(s) for s in crowd(rng, 150, kinds)]
        assert [seen.find(q) for q in queries] == [first_repeat(added, q, threshold) for q in queries]


@dataclass
class Work:
    judged: int = 0  # pairs of scenarios judged one by one (`similar`)
    passes: int = 0  # passes of rapidfuzz over one part of a group's scenarios


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Work:
    counts = Work()
    extract = process.extract

    def counted_similar(*args: Any) -> bool:
        counts.judged += 1
        return similar(*args)

    def counted_extract(*args: Any, **kwargs: Any) -> Any:
        counts.passes += 1
        return extract(*args, **kwargs)

    monkeypatch.setattr(similarity, "similar", counted_similar)
    monkeypatch.setattr(process, "extract", counted_extract)
    return counts


def test_a_crowd_of_alike_when_steps_is_judged_a_few_at_a_time(work: Work) -> None:
    """The when steps alike for all, the given steps for none: only the few nearest are judged one by
    one, and one more pass over the saved scenarios (their given steps, in C) rules the rest out."""
    names = ["alexandra", "bartholomew", "cornelius", "dominique", "evangeline", "fitzgerald"]
    names += ["gwendolyn", "humphrey", "isadora", "jebediah", "kensington", "lancelot"]
    saved = [
        SavedScenario(i, f"S{i}", Scenario(title="t", given=[name], when=["they pay"], then=["paid"]))
        for i, name in enumerate(names)
    ]
    index = SavedIndex(saved)
    twin = Scenario(title="t", given=["LANCELOT."], when=["They pay!"], then=["Paid"])
    hit = index.match(scenario_key(twin))
    assert hit is not None and hit.test_case_id == 11
    assert work == Work(judged=NEAREST + 1, passes=2)
    work.judged = work.passes = 0
    stranger = Scenario(title="t", given=["zacharias"], when=["they pay"], then=["paid"])
    assert index.match(scenario_key(stranger)) is None
    assert work == Work(judged=NEAREST, passes=2)


def test_a_crowd_alike_in_every_part_is_narrowed_by_all_three(work: Work) -> None:
    """Many saved scenarios share two parts with the scenario, none the third but one: only that one
    is judged past the nearest few."""

    def named(texts: list[str], n: int) -> list[str]:
        return [f"{text} {word}" for text in texts for word in ["alpha", "bravo", "charlie", "delta"][:n]]

    g, w, t = "shopper with basket", "they pay by card", "order is confirmed"
    others = ["quiet lake", "green hill"]
    shapes = (
        [(g, w, x) for x in named(others, 4)]
        + [(g, x, t) for x in named(others, 4)]
        + [(x, w, t) for x in named(others, 4)]
        + [(g, w, t)]
    )
    index = SavedIndex(
        [
            SavedScenario(i, f"S{i}", Scenario(title="t", given=[a], when=[b], then=[c]))
            for i, (a, b, c) in enumerate(shapes)
        ]
    )
    hit = index.match(scenario_key(Scenario(title="t", given=[g.upper()], when=[w + "!"], then=[t + "."])))
    assert hit is not None and hit.test_case_id == len(shapes) - 1
    assert work.judged == NEAREST + 1


def test_of_several_saved_repeats_the_one_with_the_most_alike_when_steps_is_named() -> None:
    def saved(ident: int, when: str) -> SavedScenario:
        return SavedScenario(
            ident, f"S{ident}", Scenario(title="t", given=["a shopper"], when=[when], then=["paid"])
        )

    # 89 % and 93 % alike as characters; the first reorders words (closer for a token-based score)
    index = SavedIndex([saved(1, "they pay card by now online"), saved(2, "with pay by card now online")])
    hit = index.match(
        scenario_key(
            Scenario(title="t", given=["a shopper"], when=["they pay by card now online"], then=["paid"])
        )
    )
    assert hit is not None and hit.test_case_id == 2


def test_repeats_of_saved_tests_are_those_find_duplicates_reports() -> None:
    rng = random.Random(3)
    draft = crowd(rng, 90, 3)
    cases = [Draft(title=f"T{i}", scenarios=draft[i : i + 9]) for i in range(0, 90, 9)]
    saved = SavedIndex([SavedScenario(i, f"S{i}", s) for i, s in enumerate(crowd(rng, 40, 3))])
    repeats = find_repeats(cases, saved)
    assert repeats and repeats == [d for d in find_duplicates(cases, saved) if d.saved is not None]
