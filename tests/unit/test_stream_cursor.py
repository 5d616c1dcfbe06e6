"""Parsing the SSE cursor (Last-Event-ID) of one job or of a multiplexed stream: hostile input ignored."""

from __future__ import annotations

import pytest

from testgen.streaming.cursors import MAX_CURSOR_PARTS, merge_cursors, parse_cursor

A, B = "task-a", "task-b"


def test_no_cursor() -> None:
    assert parse_cursor(None, [A]) == {}
    assert parse_cursor("", [A]) == {}


def test_single_job_cursor_is_a_stream_entry_id() -> None:
    assert parse_cursor("1700000000000-3", [A]) == {A: "1700000000000-3"}
    assert parse_cursor("1700000000000", [A]) == {A: "1700000000000"}


def test_entry_id_parts_up_to_64_bits() -> None:
    top = str(2**64 - 1)
    assert parse_cursor(f"{top}-{int(top) - 1}", [A]) == {A: f"{top}-{int(top) - 1}"}
    assert parse_cursor(f"{top}-0", [A]) == {A: f"{top}-0"}
    assert parse_cursor(f"0-{top}", [A]) == {A: f"0-{top}"}
    assert parse_cursor(f"{A}={top}", [A]) == {A: top}  # `top-0`: Redis reads after it


def test_the_last_possible_entry_id_is_ignored() -> None:
    """Redis refuses to read after it ("invalid start ID for the interval")."""
    top = str(2**64 - 1)
    assert parse_cursor(f"{top}-{top}", [A]) == {}
    assert parse_cursor(f"{A}={top}-{top}", [A]) == {}
    assert parse_cursor(f"{A}=1-0;{A}={top}-{top}", [A]) == {A: "1-0"}


BAD_IDS = ["x", "1-x", "-", "1-", "-1", "1-2-3", "١٢-3", " 12-3", "12-3 ", "1_000-1", "+1-1", "1.5-2"]
BAD_IDS += [f"{2**64}-0", f"0-{2**64}", "1" * 21]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_single_job_cursor_that_is_no_entry_id_is_ignored(bad: str) -> None:
    assert parse_cursor(bad, [A]) == {}
    assert parse_cursor(f"{A}={bad}", [A]) == {}


def test_bare_entry_id_is_ambiguous_for_several_jobs() -> None:
    assert parse_cursor("5-1", [A, B]) == {}
    assert parse_cursor("5-1", []) == {}


def test_multiplexed_cursor_names_each_job() -> None:
    assert parse_cursor(f"{A}=5-1;{B}=7-0", [A, B]) == {A: "5-1", B: "7-0"}
    assert parse_cursor(f"{B}=7-0", [A, B]) == {B: "7-0"}
    assert parse_cursor(f"{A}=5-1", [A]) == {A: "5-1"}


def test_multiplexed_cursor_drops_unknown_jobs_and_bad_entries() -> None:
    cursor = f"other=1-1;{A}=nope;{B}=9-9;;={A};{B}"
    assert parse_cursor(cursor, [A, B]) == {B: "9-9"}
    assert parse_cursor(f"{A}=1-1=2", [A]) == {}


def test_the_later_position_of_a_job_wins() -> None:
    assert parse_cursor(f"{A}=1-1;{A}=2-0", [A]) == {A: "2-0"}
    assert parse_cursor(f"{A}=2-0;{A}=1-1", [A]) == {A: "2-0"}
    assert parse_cursor(f"{A}=1-1;{A}=bad", [A]) == {A: "1-1"}
    assert parse_cursor(f"{A}=5;{A}=5-0", [A]) == {A: "5"}  # the same position: the first spelling


def test_only_the_first_parts_are_read() -> None:
    junk = ";".join(f"x{i}=1-1" for i in range(MAX_CURSOR_PARTS + 1))
    assert parse_cursor(f"{A}=3-0;{junk}", [A]) == {A: "3-0"}
    assert parse_cursor(f"{junk};{A}=3-0", [A]) == {}


def test_merge_keeps_the_later_position_per_job() -> None:
    assert merge_cursors({A: "1-0"}, {A: "2-0", B: "1-1"}, {A: "1-5"}) == {A: "2-0", B: "1-1"}
    assert merge_cursors() == {}
    assert merge_cursors({A: "5"}, {A: "5-0"}) == {A: "5"}  # the same position: the first spelling
