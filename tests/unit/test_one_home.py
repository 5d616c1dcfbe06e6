"""One home for every enum and limit the clients need.

The page (web/*.js, index.html) gets the priorities, test types, export formats, error hints, project
roles, the review gate's states and actions, and input bounds from /static/client-constants.js
(api/client_constants.py); the command line imports them from testgen.domain. Neither spells one:
these tests fail on a literal that has a home.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

from testgen.api.client_constants import DEFAULT_HINT, ExportChoice, client_constants, hint_key
from testgen.api.schemas.imports import JiraImportRequest
from testgen.api.schemas.jobs import BulkQueueRequest
from testgen.api.schemas.projects import ProjectCreate, ProjectUpdate
from testgen.api.schemas.stories import StoryCreate, StoryUpdate
from testgen.core import i18n
from testgen.domain import job_options
from testgen.domain.automation import AutomationFramework
from testgen.domain.exports import ExportFormat
from testgen.domain.job_errors import ErrorType
from testgen.domain.roles import ReviewAction, ReviewState, Role
from testgen.domain.stories import Priority
from testgen.domain.test_cases import TestType
from testgen.domain.text_fields import MAX_STORY_ID

PACKAGE = Path(str(resources.files("testgen")))
WEB = PACKAGE / "web"
CLI = PACKAGE / "cli"
REQUESTS = (BulkQueueRequest, JiraImportRequest, ProjectCreate, ProjectUpdate, StoryCreate, StoryUpdate)


def homed_values() -> dict[str, str]:
    """Each value that has a home, and which enum it belongs to. A value that is also the name of a
    request's field (the error type `jql` and JiraImportRequest's `jql`) is left out: it is spelled
    as that field's name."""
    fields = {name for model in REQUESTS for name in model.model_fields}
    found: dict[str, str] = {}
    for enum in (
        Priority,
        TestType,
        ExportFormat,
        AutomationFramework,
        ErrorType,
        Role,
        ReviewState,
        ReviewAction,
    ):
        found |= {member.value: enum.__name__ for member in enum if member.value not in fields}
    return found


# --- the scans --------------------------------------------------------------------------------

# A quoted value alone in a string: "high", 'xray-json', `functional`.
_QUOTED = r"""(["'`]){value}\1"""
_CSS_CLASS = re.compile(r"className:\s*$")  # a CSS class is not an enum value (a.jira, the Jira link)
# Nor is a word of the DOM: a button's type, an event's name ("submit", not ReviewAction.submit).
_DOM_WORD = re.compile(r"(?:\btype:\s*|\baddEventListener\(\s*)$")
# A number where a script sets an input's bound or default, an option's default, or a query's limit.
_JS_BOUNDS = (
    re.compile(r"\b(?:min|max|minLength|maxLength|step)\s*:\s*-?\d"),
    re.compile(r"\bvalue\s*:\s*\d"),
    re.compile(r"\b(?:num_test_cases|scenarios_per_test_case)\b[^;\n]*?(?:\?\?|\|\||[:=])\s*\d"),
    re.compile(r"[?&]\w+=\d"),
)
_HTML_BOUNDS = {"min", "max", "minlength", "maxlength", "pattern", "step"}


def js_literals(text: str, name: str) -> list[str]:
    """The homed values a script spells, as `name:line: 'value'`."""
    found = []
    for value in homed_values():
        for match in re.finditer(_QUOTED.format(value=re.escape(value)), text):
            before = text[: match.start()]
            if _CSS_CLASS.search(before) or _DOM_WORD.search(before):
                continue
            found.append(f"{name}:{text.count(chr(10), 0, match.start()) + 1}: {value!r}")
    return sorted(found)


def js_bounds(text: str, name: str) -> list[str]:
    """The numbers a script writes where an input's bound or default belongs."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if any(pattern.search(line) for pattern in _JS_BOUNDS):
            found.append(f"{name}:{number}: {line.strip()}")
    return found


class _Page(HTMLParser):
    """What index.html spells: option values and texts, and the bounds of its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[str] = []
        self.bounds: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if named.get("value"):
            self.values.append(str(named["value"]))
        if tag in ("input", "textarea"):
            self.bounds += [f"<{tag} {key}={value!r}>" for key, value in attrs if key in _HTML_BOUNDS]
            if named.get("type") == "number" and named.get("value"):
                self.bounds.append(f"<{tag} value={named['value']!r}>")

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.values.append(data.strip())


def page_literals(html: str) -> list[str]:
    page = _Page()
    page.feed(html)
    homed = homed_values()
    return sorted({f"index.html: {v!r}" for v in page.values if v in homed}) + page.bounds


def cli_literals(source: str, name: str) -> list[str]:
    """The homed values a command-line module spells, and the numbers its generate options write."""
    homed = homed_values()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in homed:
            found.append(f"{name}:{node.lineno}: {node.value!r}")
        is_option = (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
            and any(
                isinstance(a, ast.Constant) and a.value in ("--test-cases", "--scenarios") for a in node.args
            )
        )
        if is_option:
            assert isinstance(node, ast.Call)
            for keyword in node.keywords:
                numbers = [
                    c.value
                    for c in ast.walk(keyword.value)
                    if isinstance(c, ast.Constant) and re.search(r"\d", str(c.value))
                ]
                if numbers:
                    found.append(f"{name}:{node.lineno}: {keyword.arg}={numbers}")
    return found


def page_repeats() -> list[str]:
    found = page_literals((WEB / "index.html").read_text("utf-8"))
    for path in sorted(WEB.glob("*.js")):
        text = path.read_text("utf-8")
        found += js_literals(text, path.name) + js_bounds(text, path.name)
    return found


def cli_repeats() -> list[str]:
    found = []
    for path in sorted(CLI.glob("*.py")):
        found += cli_literals(path.read_text("utf-8"), f"cli/{path.name}")
    return found


# --- the page and the command line spell none ------------------------------------------------


def test_the_page_spells_no_enum_value_or_bound() -> None:
    assert page_repeats() == []


def test_the_command_line_spells_no_enum_value_or_bound() -> None:
    assert cli_repeats() == []


def test_the_scans_find_a_repeated_literal() -> None:
    """Each scan on a line that repeats a homed literal, the way the page and the CLI used to."""
    old_js = 'export const PRIORITIES = ["low", "medium", "high", "critical"];\n'
    assert js_literals(old_js, "constants.js") == [
        "constants.js:1: 'critical'",
        "constants.js:1: 'high'",
        "constants.js:1: 'low'",
        "constants.js:1: 'medium'",
    ]
    assert js_literals('  if (format === "xray-json") {', "exports.js") == ["exports.js:1: 'xray-json'"]
    assert js_literals('const HINTED = ["budget"];', "constants.js") == ["constants.js:1: 'budget'"]
    assert js_literals('h("a", { className: "jira" }, "Jira")', "stories.js") == []
    assert js_literals('if (can(id, "reviewer") && state === "in_review") {', "review-gate.js") == [
        "review-gate.js:1: 'in_review'",
        "review-gate.js:1: 'reviewer'",
    ]
    assert js_literals("steps.push(`submit`);", "review-gate.js") == ["review-gate.js:1: 'submit'"]
    submit = 'h("button", { type: "submit" }, "Add");\nform.addEventListener("submit", add);'
    assert js_literals(submit, "members.js") == []
    number_input = 'h("input", { type: "number", min: 1, max: 50, value: 5 })'
    assert js_bounds(number_input, "stories.js") == [f"stories.js:1: {number_input}"]
    assert js_bounds("num_test_cases: options.num_test_cases ?? 5,", "jobs.js") != []
    assert js_bounds('api("GET", "/projects?limit=500")', "load.js") != []
    assert js_bounds("rows: 8, value: project.instructions", "drafts.js") == []
    old_html = '<select name="priority"><option value="low">low</option></select><input maxlength="200">'
    assert page_literals(old_html) == ["index.html: 'low'", "<input maxlength='200'>"]
    old_cli = 'p.add_argument("--test-cases", type=int, default=5, help="how many (1-50, default 5)")\n'
    assert cli_literals(old_cli, "main.py") == [
        "main.py:1: default=[5]",
        "main.py:1: help=['how many (1-50, default 5)']",
    ]
    assert cli_literals('UserStory(priority="high")\n', "serve.py") == ["serve.py:1: 'high'"]


# --- the table the page gets ---------------------------------------------------------------------


def test_the_table_lists_every_value_of_its_enums() -> None:
    table = client_constants()
    assert table.priorities == list(Priority)
    assert table.default_priority is Priority.medium
    assert table.test_types == list(TestType)
    assert sorted(choice.value for choice in table.export_formats) == sorted(ExportFormat)
    assert table.export_formats[0] == ExportChoice(
        value=ExportFormat.gherkin, label="Gherkin", needs_project_key=False
    )
    assert [c.value for c in table.export_formats if c.needs_project_key] == [ExportFormat.xray_json]


def test_every_error_type_has_a_hint_in_every_language() -> None:
    table = client_constants()
    assert set(table.error_hints) == set(ErrorType)
    assert table.error_hints[ErrorType.budget] == "hint.budget"
    assert table.error_hints[ErrorType.internal] == DEFAULT_HINT  # explicitly the default
    keys = {*table.error_hints.values(), table.default_hint}
    for language in i18n.UI_LANGUAGES:
        assert keys <= set(i18n.table(language)), language
    # Each hint of the tables is some type's (a hint whose type went is found).
    hints = {key for key in i18n.table("en") if key.startswith("hint.")}
    assert hints == {hint_key(t) for t in ErrorType} | {DEFAULT_HINT}


def test_the_bounds_are_the_apis() -> None:
    limits = client_constants().limits
    cases = limits["generate"]["num_test_cases"]
    assert (cases.default, cases.minimum, cases.maximum) == (
        job_options.DEFAULT_TEST_CASES,
        job_options.MIN_TEST_CASES,
        job_options.MAX_TEST_CASES,
    )
    scenarios = limits["generate"]["scenarios_per_test_case"]
    assert (scenarios.default, scenarios.minimum, scenarios.maximum) == (
        job_options.DEFAULT_SCENARIOS_PER_CASE,
        job_options.MIN_SCENARIOS_PER_CASE,
        job_options.MAX_SCENARIOS_PER_CASE,
    )
    story_id = limits["story"]["id"]
    assert story_id.max_length == MAX_STORY_ID and story_id.pattern == r"[A-Za-z0-9][A-Za-z0-9._\-]*"
    assert limits["lists"]["projects_page"].maximum == 500
    # every input index.html names has its bounds in the table
    names = set(re.findall(r'data-limit="(\w+)\.(\w+)"', (WEB / "index.html").read_text("utf-8")))
    assert len(names) >= 6
    assert {(group, name) for group, name in names if name in limits.get(group, {})} == names
