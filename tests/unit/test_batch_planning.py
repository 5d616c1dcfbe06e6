"""plan_batches: whole test cases split into near-equal batches, every slot planned once."""

from __future__ import annotations

import pytest

from testgen.domain.techniques import Technique
from testgen.generation.llm.base import StoryText
from testgen.generation.planning import TECHNIQUES, TYPE_CYCLE, plan_batches, technique_for


def story(num_criteria: int = 3) -> StoryText:
    return StoryText(
        id="US-1",
        title="Story",
        description="",
        acceptance_criteria=[f"criterion {i}" for i in range(num_criteria)],
    )


def test_45_scenarios_make_3_batches_of_5_test_cases() -> None:
    plan = plan_batches(story(), 15, 3, 15)
    assert [len(b.slots) for b in plan] == [5, 5, 5]
    assert [b.scenario_count for b in plan] == [15, 15, 15]
    assert [(b.batch_index, b.batch_count) for b in plan] == [(0, 3), (1, 3), (2, 3)]


def test_150_scenarios_make_10_batches() -> None:
    plan = plan_batches(story(), 50, 3, 15)
    assert len(plan) == 10
    assert all(b.scenario_count == 15 for b in plan)


def test_7_scenarios_per_test_case_give_2_test_cases_per_batch() -> None:
    plan = plan_batches(story(), 5, 7, 15)
    assert [len(b.slots) for b in plan] == [2, 2, 1]
    assert all(b.scenarios_per_test_case == 7 for b in plan)


def test_test_case_larger_than_a_batch_gets_its_own_batch() -> None:
    plan = plan_batches(story(), 3, 20, 15)
    assert [len(b.slots) for b in plan] == [1, 1, 1]


def test_uneven_split_differs_by_at_most_one() -> None:
    sizes = [len(b.slots) for b in plan_batches(story(), 11, 3, 15)]
    assert sum(sizes) == 11 and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("num_tc", "spt", "max_scenarios"), [(15, 3, 15), (50, 3, 15), (7, 7, 15), (1, 1, 15), (5, 4, 10)]
)
def test_every_slot_index_appears_exactly_once_in_order(num_tc: int, spt: int, max_scenarios: int) -> None:
    plan = plan_batches(story(), num_tc, spt, max_scenarios)
    indexes = [slot.index for b in plan for slot in b.slots]
    assert indexes == list(range(num_tc))
    assert all(b.scenario_count <= max(max_scenarios, spt) for b in plan)


@pytest.mark.parametrize(("num_tc", "num_criteria"), [(3, 3), (5, 3), (10, 7), (50, 50)])
def test_every_criterion_is_a_focus_when_test_cases_suffice(num_tc: int, num_criteria: int) -> None:
    plan = plan_batches(story(num_criteria), num_tc, 2, 15)
    focused = {c for b in plan for slot in b.slots for c in slot.criteria}
    assert focused == set(range(num_criteria))
    assert all(slot.criteria for b in plan for slot in b.slots)


def test_fewer_test_cases_than_criteria_still_cover_all_criteria() -> None:
    plan = plan_batches(story(7), 3, 2, 15)
    focused = [c for b in plan for slot in b.slots for c in slot.criteria]
    assert sorted(focused) == list(range(7))


def test_story_without_criteria_has_empty_focus() -> None:
    plan = plan_batches(story(0), 4, 2, 15)
    assert all(slot.criteria == [] for b in plan for slot in b.slots)


def test_test_types_follow_the_cycle() -> None:
    slots = [slot for b in plan_batches(story(), 12, 1, 15) for slot in b.slots]
    assert [s.test_type for s in slots] == [TYPE_CYCLE[i % len(TYPE_CYCLE)] for i in range(12)]


def test_every_batch_carries_the_story_and_the_job_size() -> None:
    given = story()
    plan = plan_batches(given, 7, 3, 6)
    assert all(b.story is given and b.total_test_cases == 7 for b in plan)


def test_each_batch_has_its_own_technique_in_order() -> None:
    plan = plan_batches(story(), 50, 3, 15)
    assert [b.technique for b in plan[: len(TECHNIQUES)]] == list(TECHNIQUES)
    assert plan[len(TECHNIQUES)].technique == TECHNIQUES[0]
    assert [technique_for(i) for i in (0, 1, 6, 7)] == [
        TECHNIQUES[0],
        TECHNIQUES[1],
        TECHNIQUES[0],
        TECHNIQUES[1],
    ]


def test_only_criteria_spreads_the_test_cases_over_those_criteria() -> None:
    plan = plan_batches(story(5), 3, 1, 15, only_criteria=[1, 4])
    assert [s.criteria for b in plan for s in b.slots] == [[1], [4], [1]]
    assert [s.index for b in plan for s in b.slots] == [0, 1, 2]
    assert [s.test_type for b in plan for s in b.slots] == list(TYPE_CYCLE[:3])
    one = plan_batches(story(5), 1, 1, 15, only_criteria=[1, 3, 4])
    assert [s.criteria for b in one for s in b.slots] == [[1, 3, 4]]


def test_every_batch_knows_all_the_jobs_techniques() -> None:
    techniques = [Technique.boundary_values, Technique.pairwise]
    plan = plan_batches(story(), 6, 2, 4, techniques=techniques)
    assert len(plan) == 3 and all(b.job_techniques == tuple(techniques) for b in plan)
    assert all(b.job_techniques == () for b in plan_batches(story(), 6, 2, 4))


def test_test_cases_on_chosen_criteria_keep_the_jobs_techniques() -> None:
    techniques = [Technique.boundary_values, Technique.pairwise]
    plan = plan_batches(story(5), 4, 1, 15, only_criteria=[1, 3], techniques=techniques)
    slots = [slot for b in plan for slot in b.slots]
    assert {slot.technique for slot in slots} == set(techniques)
    assert {i for slot in slots for i in slot.criteria} <= {1, 3}
