"""Regenerating a skeleton into a folder that has step definitions already: a step whose definition
is there (matched by its pattern, whatever its parameters are called) is left alone, only the new
steps are written, and the definitions no feature uses any more are listed, never deleted.

The definitions are found in the files' text: Python's decorators `@given(...)`, `@when(...)`,
`@then(...)`, `@step(...)` with a string or `parsers.parse(<string>)` (through `ast`, without running
anything), TypeScript's `Given(...)`, `When(...)`, `Then(...)`, `Step(...)` with a string literal. A
regular-expression step is not compared and never listed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from testgen.automation.render import STEPS_FILE, definitions_block, pattern, steps_file
from testgen.automation.steps import StepCatalog, StepDefinition, StepKind
from testgen.domain.automation import AutomationFramework

_DECORATORS = {"given": StepKind.given, "when": StepKind.when, "then": StepKind.then, "step": None}


@dataclass(frozen=True)
class ExistingStep:
    kind: StepKind | None  # None: any keyword (`@step`, `Step(...)`)
    pattern: str
    path: str
    line: int


@dataclass(frozen=True)
class ExistingSteps:
    steps: list[ExistingStep]
    function_names: dict[str, set[str]]  # path -> its module's function names
    unreadable: list[str]  # files that do not parse (left alone, their steps not known)


def _string_argument(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) in ("parse", "cfparse")
        and node.args
    ):
        return _string_argument(node.args[0])
    return None


def _python_steps(path: str, text: str) -> tuple[list[ExistingStep], set[str]]:
    tree = ast.parse(text, filename=path)
    steps, names = [], set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        names.add(node.name)
        for decorator in node.decorator_list:
            if not isinstance(decorator, ast.Call) or not decorator.args:
                continue
            func = decorator.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            found = _string_argument(decorator.args[0])
            if name.lower() in _DECORATORS and found is not None:
                steps.append(ExistingStep(_DECORATORS[name.lower()], found, path, decorator.lineno))
    return steps, names


_TS_STEP = re.compile(
    r"""\b(Given|When|Then|Step)\s*\(\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\$]|\\.)*`)"""
)
_JS_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|\n|.)")
_JS_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0", "\n": ""}


def _js_string(literal: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match[1]
        if code[0] in "ux" and len(code) > 1:
            return chr(min(int(code.strip("ux{}"), 16), 0x10FFFF))
        return _JS_SIMPLE.get(code, code)

    return _JS_ESCAPE.sub(one, literal[1:-1])


def _ts_steps(path: str, text: str) -> list[ExistingStep]:
    return [
        ExistingStep(
            _DECORATORS[match[1].lower()], _js_string(match[2]), path, text.count("\n", 0, match.start()) + 1
        )
        for match in _TS_STEP.finditer(text)
    ]


def existing_steps(files: Mapping[str, str], framework: AutomationFramework) -> ExistingSteps:
    """The step definitions in `files` (path -> text) written in `framework`'s language."""
    steps: list[ExistingStep] = []
    names: dict[str, set[str]] = {}
    unreadable = []
    for path, text in sorted(files.items()):
        if framework is AutomationFramework.playwright_bdd:
            steps += _ts_steps(path, text)
            continue
        try:
            found, names[path] = _python_steps(path, text)
        except (SyntaxError, ValueError):
            unreadable.append(path)
            continue
        steps += found
    return ExistingSteps(steps, names, unreadable)


_PARAMETER = re.compile(r"\{[^{}]*\}")


def comparable(text: str, framework: AutomationFramework) -> str:
    """A pattern with its parameters' names and types left out (`{}`), as two patterns are compared.
    pytest-bdd's parse patterns match whatever the case: they compare without it."""
    if framework is AutomationFramework.playwright_bdd:
        escaped = {"\\{": "\x01", "\\}": "\x02"}
        for escape, mark in escaped.items():
            text = text.replace(escape, mark)
        return _PARAMETER.sub("{}", text)
    text = _PARAMETER.sub("{}", text.replace("{{", "\x01").replace("}}", "\x02"))
    return text.casefold() if framework is AutomationFramework.pytest_bdd else text


def _key(kind: StepKind | None, text: str, framework: AutomationFramework) -> tuple[StepKind | None, str]:
    scoped = framework is not AutomationFramework.playwright_bdd
    return (kind if scoped else None, comparable(text, framework))


@dataclass(frozen=True)
class MergePlan:
    kept: list[StepDefinition]  # defined already
    new: list[StepDefinition]
    unused: list[ExistingStep]  # defined, used by no step of the features


def plan(catalog: StepCatalog, existing: ExistingSteps, framework: AutomationFramework) -> MergePlan:
    wanted = {_key(d.kind, pattern(d, framework), framework) for d in catalog.definitions}
    wanted_any_keyword = {text for _, text in wanted}
    defined = {_key(s.kind, s.pattern, framework) for s in existing.steps}
    defined_any_keyword = {comparable(s.pattern, framework) for s in existing.steps if s.kind is None}
    kept: list[StepDefinition] = []
    new: list[StepDefinition] = []
    for definition in catalog.definitions:
        key = _key(definition.kind, pattern(definition, framework), framework)
        (kept if key in defined or key[1] in defined_any_keyword else new).append(definition)
    unused = [
        step
        for step in existing.steps
        if _key(step.kind, step.pattern, framework) not in wanted
        and not (step.kind is None and comparable(step.pattern, framework) in wanted_any_keyword)
    ]
    return MergePlan(kept, new, unused)


def merged_steps_file(
    current: str | None, new: Sequence[StepDefinition], framework: AutomationFramework, taken: set[str]
) -> str | None:
    """The framework's steps file with `new` added at its end (`current`: its text, None when the
    folder has none); None when there is nothing to add. `taken`: function names in use there."""
    if current is None:
        return steps_file(new, framework)
    if not new:
        return None
    block = definitions_block(new, framework, taken)
    gap = "\n" if framework is AutomationFramework.playwright_bdd else "\n\n"
    return current.rstrip("\n") + "\n" + gap + block


def steps_path(framework: AutomationFramework) -> str:
    return STEPS_FILE[framework]
