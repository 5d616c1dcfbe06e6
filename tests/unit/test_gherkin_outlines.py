"""An outline's Gherkin pieces, exactly: its Examples table, a row filled in, the runs of a tool
without outlines."""

from __future__ import annotations

from testgen.core.languages import gherkin_keywords
from testgen.domain.gherkin_text import example_runs, examples_block, fill, table_cell
from testgen.domain.test_cases import Examples, Scenario, Technique

OUTLINE = Scenario(
    title="Password of <length> is <outcome>",
    given=["a password of <length> characters"],
    when=["the user signs up with <length>"],
    then=["it is <outcome>"],
    technique=Technique.boundary_values,
    examples=Examples(header=["length", "outcome"], rows=[["11", "refused"], ["12", "accepted|ok"]]),
)
PLAIN = Scenario(title="Pay", given=["a basket"], when=["they pay"], then=["it is paid"])


def test_a_table_cell_escapes_bars_and_backslashes_on_one_line() -> None:
    assert table_cell("a|b\\c\nd") == "a\\|b\\\\c d"


def test_the_examples_block_pads_each_column_to_its_widest_cell() -> None:
    words = gherkin_keywords("es")
    assert examples_block(words, OUTLINE, "    ") == [
        "",
        "    Ejemplos:",
        "      | length | outcome      |",
        "      | 11     | refused      |",
        "      | 12     | accepted\\|ok |",
    ]
    assert examples_block(words, PLAIN, "    ") == []


def test_fill_puts_the_rows_values_in_every_step_and_leaves_unknown_placeholders() -> None:
    filled = fill(OUTLINE, {"length": "11", "outcome": "refused"})
    assert filled.title == "Password of 11 is refused"
    assert filled.given == ["a password of 11 characters"]
    assert filled.when == ["the user signs up with 11"]
    assert filled.then == ["it is refused"]
    assert filled.technique is Technique.boundary_values and filled.examples is None
    assert fill(OUTLINE, {"outcome": "x"}).given == ["a password of <length> characters"]  # no value: kept


def test_example_runs_label_each_row_and_spell_its_data() -> None:
    runs = example_runs(OUTLINE)
    assert [(label, data) for label, _, data in runs] == [
        ("example 1 of 2", "length = 11, outcome = refused"),
        ("example 2 of 2", "length = 12, outcome = accepted|ok"),
    ]
    assert runs[1][1].then[0] == "it is accepted|ok"
    assert example_runs(PLAIN) == [("", PLAIN, "")]
