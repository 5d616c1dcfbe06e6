"""Automation skeletons without a server: the steps of feature files unified into definitions, each
framework's patterns and names, and the merge with definitions a folder has already."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import parse
import pytest

from testgen.automation import merge
from testgen.automation.render import STEPS_FILE, definitions_block, pattern, skeleton, unify_for
from testgen.automation.steps import FeatureError, SlotKind, StepKind, identifier, unify
from testgen.domain.automation import MAX_AUTOMATION_STEPS, AutomationFramework
from tests.unit.test_export_formats import case, story

F = AutomationFramework

SHOP = """\
# language: en
Feature: Log in
  Background:
    Given the shop is open

  Scenario: valid
    Given a shopper with email "a@b.c" and password "x"
    When the shopper logs in 3 times
    Then the page "Orders" is shown
    And the total is 4.5 euros
    But no error {shown} (really) / maybe

  Scenario: other
    Given a shopper with email "z@b.c" and password "y"
    When the shopper logs in 5 times
    Then the page "Home" is shown
    And the total is 4 euros
    * the shop is open

  Scenario Outline: outline
    Given a shopper with email "<email>" and password "<pw>"
    When the shopper logs in <n> times
    Then the role <role> sees it
    Examples:
      | email | pw | n | role  |
      | a     | b  | 1 | admin |
"""

SPANISH = """\
# language: es
Característica: Iniciar sesión
  Escenario: válido
    Dado un comprador con correo "a@b.c"
    Cuando el comprador entra 3 veces
    Entonces se muestra la página "Pedidos"
    Y la página "Inicio" no se muestra
    Pero el año 2024 sigue
"""


def texts(framework: F, *features: str) -> list[tuple[str, str]]:
    catalog = unify_for(list(features), framework)
    return [(d.kind.value, pattern(d, framework)) for d in catalog.definitions]


def test_steps_that_differ_in_strings_and_numbers_are_one_definition() -> None:
    catalog = unify([SHOP])
    assert catalog.occurrences == 14  # the background's step counts once
    assert [(d.kind, pattern(d, F.behave), d.uses) for d in catalog.definitions] == [
        (StepKind.given, "the shop is open", 1),
        (StepKind.given, 'a shopper with email "{text}" and password "{text_2}"', 3),
        (StepKind.when, "the shopper logs in {num:d} times", 3),
        (StepKind.then, 'the page "{text}" is shown', 2),
        (StepKind.then, "the total is {num:g} euros", 2),  # 4.5 and 4: a decimal
        (StepKind.then, "no error {{shown}} (really) / maybe", 1),
        (StepKind.then, "the shop is open", 1),  # `*` after a Then is a Then
        (StepKind.then, "the role {role} sees it", 1),
    ]
    outline = catalog.definitions[1]
    assert outline.scenarios == ["Log in: valid", "Log in: other", "Log in: outline"]


def test_and_but_and_star_take_the_keyword_before_them_in_any_dialect() -> None:
    assert texts(F.behave, SPANISH) == [
        ("given", 'un comprador con correo "{text}"'),
        ("when", "el comprador entra {num:d} veces"),
        ("then", 'se muestra la página "{text}"'),
        ("then", 'la página "{text}" no se muestra'),
        ("then", "el año {num:d} sigue"),
    ]


def test_outline_placeholders_are_parameters_named_after_their_column() -> None:
    definitions = unify([SHOP]).definitions
    by_text = {d.text: d for d in definitions}
    assert [(s.kind, s.name) for s in by_text["the role <role> sees it"].slots] == [(SlotKind.any, "role")]
    # a placeholder whose examples are numbers is a number, the same step as one with a number in it
    assert by_text["the shopper logs in 3 times"].uses == 3


def test_a_placeholder_starting_with_a_digit_is_a_named_parameter() -> None:
    feature = (
        'Feature: f\n  Scenario Outline: o\n    Given the <1st> runner and the "<2nd>" one\n'
        "    Examples:\n      | 1st | 2nd |\n      | 3   | Ann |\n"
    )
    (definition,) = unify([feature]).definitions
    names = [slot.name for slot in definition.slots]
    assert names == ["value_1st", "value_2nd"]
    # parse passes a field whose name starts with `_` by position: pytest-bdd would look for a fixture
    for framework in (F.pytest_bdd, F.behave):
        found = parse.compile(pattern(definition, framework)).parse('the 3 runner and the "Ann" one')
        assert found is not None and found.named == {"value_1st": 3, "value_2nd": "Ann"}


def test_a_step_an_outline_step_matches_is_that_step() -> None:
    feature = (
        'Feature: f\n  Scenario: s\n    Given a user "x@y.z" with role admin\n'
        '    Given a user named "q"\n'
        '  Scenario Outline: o\n    Given a user "<email>" with role <role>\n'
        "    Examples:\n      | email | role |\n      | a | viewer |\n"
    )
    for framework in F:
        definitions = unify_for([feature], framework).definitions
        assert [pattern(d, framework) for d in definitions][-1] in (
            'a user "{email}" with role {role}',
            "a user {string} with role {}",
        )
        assert [(d.uses, d.scenarios) for d in definitions] == [(1, ["f: s"]), (2, ["f: o", "f: s"])]


def test_each_framework_spells_its_patterns() -> None:
    definitions = unify_for([SHOP], F.playwright_bdd).definitions
    cucumber = [pattern(d, F.playwright_bdd) for d in definitions]
    assert cucumber == [
        "the shop is open",  # one definition whatever the keyword: Cucumber matches any
        "a shopper with email {string} and password {string}",
        "the shopper logs in {int} times",
        "the page {string} is shown",
        "the total is {float} euros",
        "no error \\{shown\\} \\(really\\) \\/ maybe",
        "the role {} sees it",
    ]
    pytest_bdd = unify_for([SHOP], F.pytest_bdd).definitions
    compiled = parse.compile(pattern(pytest_bdd[1], F.pytest_bdd))
    assert compiled.parse('a shopper with email "q@r.s" and password "p w"').named == {
        "text": "q@r.s",
        "text_2": "p w",
    }
    assert parse.compile(pattern(pytest_bdd[4], F.pytest_bdd)).parse("the total is 4 euros")["num"] == 4
    assert parse.parse(pattern(pytest_bdd[5], F.pytest_bdd), "no error {shown} (really) / maybe") is not None


def test_case_makes_two_steps_only_where_the_framework_minds_it() -> None:
    feature = 'Feature: f\n  Scenario: s\n    Then the page "A" is shown\n    Then the Page "B" is shown\n'
    assert len(unify_for([feature], F.pytest_bdd).definitions) == 1  # parsers.parse ignores case
    assert len(unify_for([feature], F.behave).definitions) == 2
    assert len(unify_for([feature], F.playwright_bdd).definitions) == 2


def test_a_cucumber_string_is_either_quote_and_may_be_empty() -> None:
    feature = (
        'Feature: f\n  Scenario: s\n    Given the page "Orders" is open\n'
        "    Given the page 'Users' is open\n"
        '    Then the field "" is empty\n    Then the field "name" is empty\n'
    )
    # `{string}` matches '…', "…" and "": one definition each, not two that Cucumber finds ambiguous
    assert texts(F.playwright_bdd, feature) == [
        ("given", "the page {string} is open"),
        ("then", "the field {string} is empty"),
    ]
    # parse patterns keep their quote, and `"{text}"` needs a character
    assert texts(F.behave, feature) == [
        ("given", 'the page "{text}" is open'),
        ("given", "the page '{text}' is open"),
        ("then", 'the field "" is empty'),
        ("then", 'the field "{text}" is empty'),
    ]
    # an outline's free placeholder takes a step in the other quote
    outline = (
        "Feature: f\n  Scenario: s\n    Given a user 'x' with role admin\n"
        '  Scenario Outline: o\n    Given a user "<email>" with role <role>\n'
        "    Examples:\n      | email | role |\n      | a | viewer |\n"
    )
    assert texts(F.playwright_bdd, outline) == [("given", "a user {string} with role {}")]


def test_numbers_inside_words_and_empty_strings_stay_text() -> None:
    feature = (
        'Feature: f\n  Scenario: s\n    Given story US-001 has AC1 and v2.0 and 1,000 and ""\n'
        "    Given it costs -5 at 10.\n"
    )
    assert texts(F.behave, feature) == [
        ("given", 'story US-001 has AC1 and v2.0 and 1,000 and ""'),
        ("given", "it costs {num:d} at {num_2:d}."),
    ]
    compiled = parse.compile("it costs {num:d} at {num_2:d}.")
    assert compiled.parse("it costs -5 at 10.").named == {"num": -5, "num_2": 10}


def test_function_names_are_identifiers_from_the_text_unique_in_their_module() -> None:
    feature = (
        "Feature: f\n  Scenario: s\n    Given ¿el niño está aquí?\n    Given el nino esta aqui\n"
        "    Given 3 日本語\n    Given class def\n"
    )
    block = definitions_block(unify_for([feature], F.pytest_bdd).definitions, F.pytest_bdd)
    names = [node.name for node in ast.parse(block).body if isinstance(node, ast.FunctionDef)]
    assert names == ["given_el_nino_esta_aqui", "given_el_nino_esta_aqui_2", "given_num", "given_class_def"]
    assert all(name.isidentifier() and name.isascii() for name in names)
    assert identifier("日本語") == "step"
    assert identifier("3 apples") == "_3_apples"


def test_each_definition_raises_pending_and_names_its_step_and_scenarios() -> None:
    files = skeleton({"shop.feature": SHOP}, F.behave).files
    steps = files[STEPS_FILE[F.behave]]
    ast.parse(steps)
    assert '# Given a shopper with email "a@b.c" and password "x"\n' in steps
    assert "# 3 steps in: Log in: valid; Log in: other; Log in: outline\n" in steps
    assert steps.count("raise StepNotImplementedError(") == 8
    assert files["features/shop.feature"] == SHOP
    ts = skeleton({"shop.feature": SHOP}, F.playwright_bdd).files["steps/steps.ts"]
    assert ts.count("test.fixme(true, ") == 7
    assert 'Then("the role {} sees it", async ({ page }, role: string) => {' in ts


def test_a_parameter_never_shadows_what_a_typescript_body_calls() -> None:
    feature = (
        'Feature: f\n  Scenario Outline: o\n    Given the <test> runs with "<expect>" on <page>\n'
        "    Examples:\n      | test  | expect | page |\n      | smoke | ok     | home |\n"
    )
    ts = skeleton({"f.feature": feature}, F.playwright_bdd).files["steps/steps.ts"]
    # the pending body calls `test.fixme`, a proposed one `page` and `expect`
    assert "async ({ page }, test_value: string, expect_value: string, page_value: string) => {" in ts


def test_hostile_text_stays_in_its_comments_and_strings() -> None:
    feature = "Feature: f\n  Scenario: s\n    Given a \u2028 line ''' \"\"\" \\ ') and `${x}`\n"
    for framework in (F.pytest_bdd, F.behave):
        steps = skeleton({"f.feature": feature}, framework).files[STEPS_FILE[framework]]
        tree = ast.parse(steps)
        assert len([n for n in tree.body if isinstance(n, ast.FunctionDef) and n.decorator_list]) == 1
        assert "\u2028" not in "".join(line for line in steps.splitlines() if line.startswith("#"))
    ts = skeleton({"f.feature": feature}, F.playwright_bdd).files["steps/steps.ts"]
    comments = [line for line in ts.split("\n") if line.startswith("//")]
    assert all("\u2028" not in line for line in comments)


def test_the_number_of_steps_is_bounded() -> None:
    steps = "\n".join(f"    Given step {i}" for i in range(MAX_AUTOMATION_STEPS + 1))
    with pytest.raises(FeatureError, match="more than"):
        unify([f"Feature: f\n  Scenario: s\n{steps}\n"])
    with pytest.raises(FeatureError, match="not a valid feature"):
        unify(["Feature: a\n  Scenario: s\n    Given x\nFeature: b\n"])


SPANNING = """\
Feature: f
  Scenario: s
    Given the field "Name" is filled
    Given the field "Name" or "Email" is filled
    Given the admin sees "Home" and "Orders"

  Scenario Outline: o
    Given the <role> sees "<page>"
    Examples:
      | role  | page |
      | admin | Home |
"""


def test_behave_takes_a_step_with_more_quotes_before_a_string_parameter_spanning_them() -> None:
    """A parse `"{text}"` matches across quotes (`Name" or "Email`): behave refuses a pattern that a
    definition before it matches (the steps module does not load), and takes the first that matches."""
    definitions = unify_for([SPANNING], F.behave).definitions
    steps_py = skeleton({"f.feature": SPANNING}, F.behave).files[STEPS_FILE[F.behave]]
    patterns = [step.pattern for step in merge.existing_steps({"s.py": steps_py}, F.behave).steps]
    matchers = [parse.compile(p, case_sensitive=True) for p in patterns]
    for i, later in enumerate(patterns):
        assert not any(m.parse(later) for m in matchers[:i]), (later, patterns)
    for definition in definitions:
        for text in definition.texts:
            first = next(p for p, m in zip(patterns, matchers, strict=True) if m.parse(text))
            assert first == pattern(definition, F.behave), (text, patterns)


def test_the_export_of_a_story_is_what_it_reads() -> None:
    from testgen.api.services.export import to_gherkin

    text = to_gherkin(story(), [case(1, [0], []), case(2, [1], [])])
    catalog = unify_for([text], F.pytest_bdd)
    # two test cases with the same two scenarios of 5 and 3 steps: 16 steps, 8 definitions
    assert (catalog.occurrences, len(catalog.definitions)) == (16, 8)


# --- merge ------------------------------------------------------------------------------------


HAND_WRITTEN_PY = """\
from pytest_bdd import given, parsers, then, when


@given(parsers.parse('a shopper with email "{email}" and password "{password}"'))
def given_a_shopper(email: str, password: str) -> None:
    print("hand-written", email, password)


@when("the shopper logs out")
def given_the_shop_is_open() -> None:
    pass


@then(parsers.parse("THE PAGE \\"{name}\\" IS SHOWN"))
def shown(name: str) -> None:
    pass
"""


def test_merge_keeps_defined_steps_adds_new_ones_and_lists_unused_ones() -> None:
    catalog = unify_for([SHOP], F.pytest_bdd)
    existing = merge.existing_steps({"conftest.py": HAND_WRITTEN_PY}, F.pytest_bdd)
    plan = merge.plan(catalog, existing, F.pytest_bdd)
    assert [d.text for d in plan.kept] == [
        'a shopper with email "a@b.c" and password "x"',
        'the page "Orders" is shown',
    ]
    assert len(plan.new) == len(catalog.definitions) - 2
    assert [(s.pattern, s.line) for s in plan.unused] == [("the shopper logs out", 9)]
    merged = merge.merged_steps_file(
        HAND_WRITTEN_PY, plan.new, F.pytest_bdd, existing.function_names["conftest.py"]
    )
    assert merged is not None and merged.startswith(HAND_WRITTEN_PY)  # the hand-written part, byte for byte
    names = [n.name for n in ast.parse(merged).body if isinstance(n, ast.FunctionDef)]
    assert len(names) == len(set(names)) == 3 + len(plan.new)
    assert "given_the_shop_is_open_2" in names
    again = merge.plan(catalog, merge.existing_steps({"conftest.py": merged}, F.pytest_bdd), F.pytest_bdd)
    assert again.new == [] and merge.merged_steps_file(merged, again.new, F.pytest_bdd, set()) is None


def test_merge_reads_typescript_steps_any_keyword() -> None:
    catalog = unify_for([SHOP], F.playwright_bdd)
    hand = (
        'Step("the shop is open", async () => {});\n'
        "When('the shopper logs in {int} times', async ({ page }, n) => { await page.goto('/'); });\n"
        'Then("gone \\u00e9 {string}", async () => {});\n'
        "Given(/^a regexp$/, async () => {});\n"
    )
    existing = merge.existing_steps({"steps/mine.ts": hand}, F.playwright_bdd)
    assert [s.pattern for s in existing.steps] == [
        "the shop is open",
        "the shopper logs in {int} times",
        "gone é {string}",
    ]
    plan = merge.plan(catalog, existing, F.playwright_bdd)
    assert len(plan.kept) == 2 and len(plan.new) == len(catalog.definitions) - 2
    assert [(s.path, s.line) for s in plan.unused] == [("steps/mine.ts", 3)]


def test_an_unreadable_python_file_is_reported_not_guessed() -> None:
    existing = merge.existing_steps({"broken.py": "def (:\n"}, F.behave)
    assert existing.unreadable == ["broken.py"] and existing.steps == []


def test_the_zip_layouts() -> None:
    layouts: dict[F, Any] = {f: sorted(skeleton({"a.feature": SHOP}, f).files) for f in F}
    assert layouts == {
        F.pytest_bdd: ["conftest.py", "features/a.feature", "test_features.py"],
        F.behave: ["features/a.feature", "features/steps/steps.py"],
        F.playwright_bdd: [
            "features/a.feature",
            "package.json",
            "playwright.config.ts",
            "steps/steps.ts",
            "tsconfig.json",
        ],
    }
    package = json.loads(skeleton({}, F.playwright_bdd).files["package.json"])
    assert set(package["devDependencies"]) >= {"playwright-bdd", "@playwright/test", "typescript"}
    assert re.search(r"scenarios\(\"features\"\)", skeleton({}, F.pytest_bdd).files["test_features.py"])


# --- the command's checks, before any request -------------------------------------------------


def test_the_command_refuses_what_it_cannot_do_before_asking(capsys: pytest.CaptureFixture[str]) -> None:
    from testgen.cli.main import main

    api = ("--api", "http://127.0.0.1:9")  # nothing listens: no check below reaches it
    assert main(["automation", "--project", "1", "--framework", "behave", *api]) == 2
    assert "give -o DIR" in capsys.readouterr().err
    assert main(["automation", "--framework", "behave", "-o", "x", *api]) == 2
    assert (
        main(["automation", "--story", "US-1", "--framework", "behave", "-o", "a", "--merge", "b", *api]) == 2
    )
    with pytest.raises(SystemExit):
        main(["automation", "--story", "US-1", "--framework", "cypress", "-o", "x", *api])


@pytest.mark.parametrize("name", ["../evil.py", "/etc/passwd", "a/../../b", "a\\b.py", "dir/"])
def test_a_zip_with_an_unsafe_name_is_refused(name: str) -> None:
    import io
    import zipfile

    from testgen.cli.api_http import CliError
    from testgen.cli.automation import read_zip

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("features/a.feature", "Feature: a\n")
        archive.writestr(name, "x")
    with pytest.raises(CliError, match="unsafe file name"):
        read_zip(buffer.getvalue())
    with pytest.raises(CliError, match="did not send a zip"):
        read_zip(b"not a zip")
